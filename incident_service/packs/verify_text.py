"""VERIFY.txt, the short bilingual how-to every evidence pack carries (docs/evidence.md is the long one)."""

VERIFY_TEXT = """How to verify this evidence pack / Cách kiểm tra gói bằng chứng này

1. Every file's SHA-256 is listed in SHA256SUMS; check with: sha256sum -c SHA256SUMS
   Mỗi tệp có mã SHA-256 trong SHA256SUMS; kiểm tra bằng: sha256sum -c SHA256SUMS
2. Each raw email (messages/*.eml) has the SHA-256 recorded when it was received (evidence.json,
   reports[].email.sha256), and the audit event "email:message:received" for that message carries the
   same value; that event's own hash covers it (step 3), so rebuilding SHA256SUMS cannot hide a change.
   Every report has its "...:report:received" audit event with its reference.
   Mỗi thư gốc có mã SHA-256 được ghi lúc nhận; sự kiện kiểm toán "email:message:received" chứa cùng giá trị,
   và mã băm của chính sự kiện đó bao gồm giá trị này. Mỗi báo cáo có sự kiện "...:report:received" với mã của nó.
3. Each audit event's hash is SHA-256 of the canonical JSON of its fields (for an event written before
   the log became a Merkle tree, of prev_hash + that JSON, as the old chain linked them).
   Mã băm của mỗi sự kiện là SHA-256 của JSON chuẩn hóa các trường của nó (với sự kiện ghi trước khi nhật ký
   thành cây Merkle: SHA-256(prev_hash + JSON chuẩn hóa), như chuỗi cũ đã nối chúng).
4. evidence.json's "log" proves each audit event is a leaf of the service's Merkle tree (RFC 9162):
   each leaf hashes to its leaf_hash, its inclusion_proof leads to the checkpoint's root, and the
   checkpoint text is signed (Ed25519) with the service's published key and time-stamped (RFC 3161).
   Phần "log" chứng minh mỗi sự kiện là một lá của cây Merkle; điểm kiểm tra được ký bằng khóa công khai
   đã công bố của dịch vụ và được đóng dấu thời gian.
5. All of this at once, offline: flask --app wsgi audit verify-pack --public-key PUBLISHED_KEY THIS_FILE.zip
   Step by step, by hand: docs/evidence.md.
"""
