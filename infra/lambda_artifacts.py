#!/usr/bin/env python3
"""Checks what `sam build` produced and reports the sizes that matter for Lambda.

For each function: `bootstrap` must exist, be an ELF executable for the requested architecture
(a silently wrong target would only fail at the first invocation in AWS), and its size plus the size
of the zip SAM uploads are printed as a Markdown table for docs/PERFORMANCE.md.

    python3 infra/lambda_artifacts.py BUILD_DIR ARCH
"""

import io
import pathlib
import sys
import zipfile

FUNCTIONS = ["IngestFunction", "NormalizeFunction", "DetectFunction"]
ELF_MACHINE = {"x86_64": 62, "arm64": 183}


def elf_machine(data: bytes) -> int:
    if data[:4] != b"\x7fELF":
        raise SystemExit("not an ELF file")
    return int.from_bytes(data[18:20], "little")


def main() -> None:
    build_dir, arch = pathlib.Path(sys.argv[1]), sys.argv[2]
    want = ELF_MACHINE[arch]
    rows = []
    for name in FUNCTIONS:
        path = build_dir / name / "bootstrap"
        if not path.is_file():
            raise SystemExit(f"{path}: missing; did `sam build` build {name}?")
        data = path.read_bytes()
        got = elf_machine(data)
        if got != want:
            raise SystemExit(f"{path}: ELF machine {got}, expected {want} ({arch})")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            info = zipfile.ZipInfo("bootstrap")
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o755 << 16  # executable, as Lambda needs it
            z.writestr(info, data, compresslevel=9)
        rows.append((name, len(data), buf.tell()))
    print(f"| function ({arch}) | bootstrap | zipped |")
    print("|---|---:|---:|")
    for name, size, zipped in rows:
        print(f"| {name} | {size / 1e6:.1f} MB | {zipped / 1e6:.1f} MB |")


if __name__ == "__main__":
    main()
