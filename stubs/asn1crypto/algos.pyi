from .core import Asn1Value

class SignedDigestAlgorithm(Asn1Value):
    @property
    def signature_algo(self) -> str: ...
