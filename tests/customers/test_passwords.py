"""argon2id hashing (P1): parameters at or above OWASP's floor, and bounded concurrency."""

from __future__ import annotations

import threading

from argon2 import PasswordHasher

from incident_service.customers.passwords import PROFILES, PasswordHashing


def test_default_profile_is_at_or_above_the_floor() -> None:
    encoded = PasswordHashing("rfc9106-low-memory", 1).hash("x" * 20)
    assert encoded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    floor = PasswordHashing("owasp-minimum", 1).hash("x" * 20)
    assert floor.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_concurrent_hashing_is_bounded() -> None:
    hashing = PasswordHashing("owasp-minimum", 2)
    running, peak, lock = 0, 0, threading.Lock()

    class Counting(PasswordHasher):
        def hash(self, password, *, salt=None):  # type: ignore[no-untyped-def,override]
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            try:
                for _ in range(3):  # real argon2 work, long enough for threads to overlap
                    super().hash(password)
                return super().hash(password)
            finally:
                with lock:
                    running -= 1

    hashing.hasher = Counting(time_cost=2, memory_cost=19 * 1024, parallelism=1)
    threads = [threading.Thread(target=hashing.hash, args=("some long password",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 2


def test_unknown_user_costs_a_verification_too() -> None:
    """R3: no stored hash still runs one real argon2 verification (against the dummy hash), so an
    unknown address costs what a known one does. The real hasher is counted, not replaced."""
    from argon2 import PasswordHasher

    class CountingHasher(PasswordHasher):
        verified: list[str] = []

        def verify(self, hash, password):  # type: ignore[no-untyped-def]
            self.verified.append(hash)
            return super().verify(hash, password)

    hashing = PasswordHashing("owasp-minimum", 1)
    hashing.hasher = CountingHasher.from_parameters(PROFILES["owasp-minimum"])
    assert hashing.verify(None, "anything at all here") is False
    assert len(CountingHasher.verified) == 1 and CountingHasher.verified[0].startswith("$argon2id$")
    stored = hashing.hash("right password here")
    assert hashing.verify(stored, "right password here") is True and CountingHasher.verified[-1] == stored
