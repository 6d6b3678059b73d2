"""Signing a DPA: fill the role's pre-created field with a PAdES signature, an RFC 3161 signature timestamp and
the validation data of both (PAdES B-LT).

The processor's signature certifies the document (DocMDP P=2: form filling and signing still allowed); the
controller's is an approval signature. Both are ETSI.CAdES.detached with SHA-256 and the signing-certificate-v2
attribute, written as an incremental update — the input is a byte-for-byte prefix of the output — with a visible
appearance in an embedded font. The XMP metadata and the document information dictionary are left untouched so
that a PDF/A-2b input stays PDF/A-2b. The certificates and CRLs of the signer's and the TSA's
chains go into the document security store (DSS) of the same revision (:mod:`dpa.signing.ltv`: fetched from the
certificates' own addresses, cached for the run); without them, ``[signing] require_revocation_data`` decides
between stopping and signing at B-T.

:class:`SigningSession` is built once per run: keys parsed once, one HTTP session to the TSA, the appearance font
loaded once. Every check (key, certificate, input, output path, timestamp) happens before a file is written; on any
error nothing is written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import io
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
from pyhanko.sign.general import SigningError as HankoSigningError
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.signers.pdf_byterange import BuildProps
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import CertificateValidator
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError, ValidationError

import dpa
from dpa.config import Config, SignerConfig
from dpa.errors import DpaError, SigningError
from dpa.files import write_atomic
from dpa.roles import BY_ROLE, ROLES
from dpa.signing.appearance import appearance_text_params, covers, stamp_style
from dpa.signing.document import DpaUpdateWriter, check_can_sign
from dpa.signing.keys import LoadedSigner, SecretPrompt, signer_from_config
from dpa.signing.ltv import LtvPlan, RevocationFetcher
from dpa.signing.output import default_output_path, same_file
from dpa.signing.timestamps import DpaTimeStamper, timestamper_from_config
from dpa.signing.trust import load_trust_roots, validation_context

DIGEST_ALGORITHM = "sha256"
DIGEST_METHOD = "/SHA256"
"""The same digest as a PDF name, for the DocMDP reference's /DigestMethod (ISO 32000-2, table 256)."""


@dataclass(frozen=True)
class SignResult:
    """What one signature produced."""

    role: str
    field: str
    signer: str
    """The signer's common name, as shown in the appearance."""
    signer_subject: str
    certification: bool
    signed_at: dt.datetime
    """The signer's own clock (shown in the appearance, labelled as such)."""
    timestamp: dt.datetime | None
    """genTime of the trusted RFC 3161 signature timestamp; ``None`` only with ``timestamp=False``."""
    tsa_url: str | None
    sha256: str
    size: int
    output: Path | None = None
    level: str = "B-LT"
    """``B-LT`` (validation data in the DSS), ``B-T`` (none could be had, and none was required) or ``B-B``."""
    warning: str | None = None
    """Why the signature is below B-LT, when it is."""


class SigningSession:
    """Everything a run needs to sign many PDFs, built once: keys, TSA client, trust roots, appearance font.

    Signers are loaded per role on first use (``dpa sign --as processor`` never asks for the controller's
    passphrase); :meth:`preload` loads them up front so a batch fails before its first document. One session per
    thread; :meth:`sign` serialises callers anyway. Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        config: Config,
        *,
        tsa_urls: Sequence[str] = (),
        timestamp: bool = True,
        prompt: SecretPrompt | None = None,
        overrides: Mapping[str, SignerConfig] | None = None,
        timestamper: DpaTimeStamper | None = None,
        font_path: Path | None = None,
    ) -> None:
        self.config = config
        self._prompt = prompt
        self._overrides = dict(overrides or {})
        self._signers: dict[str, LoadedSigner] = {}
        self._trust_roots = load_trust_roots(config.trust.roots)
        self.revocation = RevocationFetcher(
            [*self._trust_roots, *load_trust_roots(config.trust.tsa_roots)],
            required=config.signing.require_revocation_data,
            timeout_s=config.signing.revocation_timeout_s,
        )
        self._own_timestamper = timestamper is None and timestamp
        self.timestamper: DpaTimeStamper | None = (
            (timestamper or timestamper_from_config(config, tsa_urls, prompt=prompt)) if timestamp else None
        )
        self._font_path = font_path or config.paths.appearance_font
        self._style = stamp_style(self._font_path)
        self._full_style: TextStampStyle | None = None
        self._lock = threading.Lock()

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def __enter__(self) -> SigningSession:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release keys (PKCS#11 sessions) and the TSA connection."""
        for loaded in self._signers.values():
            loaded.close()
        self._signers.clear()
        if self.timestamper is not None and self._own_timestamper:
            self.timestamper.close()

    def preload(self, roles: Sequence[str] = ("processor",)) -> None:
        """Load and check the signers of ``roles`` now, and warm up the appearance font."""
        for role in roles:
            self.signer(role)
        font = self._style.text_box_style.font
        warm_up = getattr(font, "warm_up", None)
        if callable(warm_up):
            warm_up()

    def signer(self, role: str) -> LoadedSigner:
        """The checked signer of ``role`` (loaded on first use)."""
        if role not in ROLES:
            raise SigningError(f"unknown role '{role}': use processor or controller")
        loaded = self._signers.get(role)
        if loaded is None:
            loaded = signer_from_config(self.config, role, prompt=self._prompt, override=self._overrides.get(role))
            try:
                self._check_trusted(loaded, role)
            except BaseException:
                loaded.close()
                raise
            self._signers[role] = loaded
        return loaded

    # --- signing -----------------------------------------------------------------------------------------------

    def sign(
        self,
        source: Path,
        role: str,
        output: Path | None = None,
        *,
        in_place: bool = False,
    ) -> SignResult:
        """Sign the PDF at ``source`` as ``role`` and write it atomically to ``output``.

        ``output`` defaults to :func:`~dpa.signing.output.default_output_path`; it may equal ``source`` only with
        ``in_place=True`` (which also makes it the default). Missing output folders are created, as
        :func:`dpa.files.write_atomic` does for every output.
        """
        source = Path(source)
        if in_place:
            if output is not None and not same_file(output, source):
                raise SigningError("--in-place writes to the input file; do not also give a different output")
            target = source
        else:
            target = Path(output) if output is not None else default_output_path(source, role)
            if same_file(target, source):
                raise SigningError(
                    f"the output {target} is the input file; pass --in-place to sign it in place, or choose "
                    "another output with -o"
                )
        try:
            data = source.read_bytes()
        except FileNotFoundError:
            raise SigningError(f"the PDF {source} does not exist") from None
        except IsADirectoryError:
            raise SigningError(f"{source} is a folder, not a PDF") from None
        except OSError as exc:
            raise SigningError(f"cannot read {source}: {exc.strerror or exc}") from None
        signed, result = self.sign_bytes(data, role, name=str(source))
        write_atomic(target, signed)
        return dataclasses.replace(result, output=target)

    def sign_bytes(self, data: bytes, role: str, *, name: str = "the input") -> tuple[bytes, SignResult]:
        """Sign PDF ``data`` as ``role``; returns the signed PDF (``data`` + an incremental update) and a report."""
        with self._lock:
            return self._sign_locked(data, role, name)

    def _sign_locked(self, data: bytes, role: str, name: str) -> tuple[bytes, SignResult]:
        field = check_can_sign(data, role, name)
        loaded = self.signer(role)
        plan = self._plan(loaded, role)
        certify = role == "processor"
        signed_at = dt.datetime.now(dt.UTC)
        params = appearance_text_params(loaded.common_name, loaded.organization, role, signed_at)
        meta = PdfSignatureMetadata(
            field_name=field,
            md_algorithm=DIGEST_ALGORITHM,
            subfilter=SigSeedSubFilter.PADES,
            certify=certify,
            docmdp_permissions=MDPPerm.FILL_FORMS,
            reason=BY_ROLE[role].stamp,
            app_build_props=BuildProps(name="dpa", revision=dpa.__version__),
            embed_validation_info=plan is not None and plan.context is not None,
            validation_context=plan.context if plan is not None else None,
            signer_key_usage=set(),
            dss_settings=DSSContentSettings(
                placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE, include_vri=False
            ),
        )
        style = self._style if covers("".join(params.values())) else self._fallback_style()
        pdf_signer = PdfSigner(meta, loaded.signer, timestamper=self.timestamper, stamp_style=style)
        if self.timestamper is not None:
            self.timestamper.last = None
        out = io.BytesIO()
        try:
            writer = DpaUpdateWriter(data, certify=certify, digest_method=DIGEST_METHOD)
            pdf_signer.sign_pdf(writer, existing_fields_only=True, appearance_text_params=params, output=out)
        except DpaError:
            raise
        except (HankoSigningError, PdfError) as exc:
            raise SigningError(f"pyHanko could not sign {name}: {exc}") from exc
        except _pkcs11_errors() as exc:
            raise SigningError(f"the PKCS#11 token failed while signing {name}: {type(exc).__name__} {exc}") from exc
        signed = out.getvalue()
        if not signed.startswith(data):  # pragma: no cover - pyHanko always appends
            raise SigningError(f"signing {name} did not produce an incremental update; nothing written")
        stamp = self.timestamper.last if self.timestamper is not None else None
        if self.timestamper is not None and stamp is None:  # pragma: no cover - defensive
            raise SigningError(f"signing {name} produced no timestamp; nothing written")
        result = SignResult(
            role=role,
            field=field,
            signer=loaded.common_name,
            signer_subject=loaded.certificate.subject.rfc4514_string(),
            certification=certify,
            signed_at=signed_at,
            timestamp=stamp.gen_time if stamp else None,
            tsa_url=stamp.url if stamp else None,
            sha256=hashlib.sha256(signed).hexdigest(),
            size=len(signed),
            level=plan.level if plan is not None else "B-B",
            warning=plan.warning if plan is not None else None,
        )
        return signed, result

    def _plan(self, loaded: LoadedSigner, role: str) -> LtvPlan | None:
        """The validation data plan of one signature (None without a timestamp: B-B carries none)."""
        if self.timestamper is None:
            return None
        return self.revocation.plan(
            loaded.asn1_certificate, loaded.chain, self.timestamper, whose=f"the certificate of [signers.{role}]"
        )

    def _fallback_style(self) -> TextStampStyle:
        if self._full_style is None:
            self._full_style = stamp_style(self._font_path, presubset=False)
        return self._full_style

    def _check_trusted(self, loaded: LoadedSigner, role: str) -> None:
        """With ``[trust] roots`` configured, the signer's certificate must chain to one of them."""
        if not self._trust_roots:
            return
        context = validation_context(self._trust_roots, other_certs=loaded.chain)
        validator = CertificateValidator(
            loaded.asn1_certificate, intermediate_certs=list(loaded.chain), validation_context=context
        )
        try:
            asyncio.run(validator.async_validate_path())
        except (PathBuildingError, PathValidationError, ValidationError) as exc:
            raise SigningError(
                f"the certificate of [signers.{role}] ({loaded.certificate.subject.rfc4514_string()}) does not "
                f"chain to a configured trust root ({exc}); add its CA to [trust] roots or use another certificate"
            ) from None


def sign_pdf(
    config: Config,
    source: Path,
    role: str,
    output: Path | None = None,
    *,
    in_place: bool = False,
    tsa_urls: Sequence[str] = (),
    timestamp: bool = True,
    prompt: SecretPrompt | None = None,
    override: SignerConfig | None = None,
) -> SignResult:
    """One-shot: a :class:`SigningSession` for a single signature (the ``dpa sign`` command)."""
    overrides = {role: override} if override is not None else None
    with SigningSession(config, tsa_urls=tsa_urls, timestamp=timestamp, prompt=prompt, overrides=overrides) as s:
        return s.sign(source, role, output, in_place=in_place)


def _pkcs11_errors() -> tuple[type[BaseException], ...]:
    try:
        from pkcs11.exceptions import PKCS11Error
    except ImportError:  # pragma: no cover - python-pkcs11 is a dependency
        return ()
    return (PKCS11Error,)
