# The part of authres (RFC 8601 Authentication-Results) the evidence summary uses; it publishes no types.
class AuthenticationResult:
    method: str
    result: str

class AuthenticationResultsHeader:
    authserv_id: str
    results: list[AuthenticationResult]
    @classmethod
    def parse(cls, string: str) -> AuthenticationResultsHeader: ...
