"""Copying a Rasa project into the assistant store, from an uploaded zip or a server directory.

Nothing from a zip is trusted: every member name is checked before anything is written (no
absolute paths, no `..`, no links, no encrypted members), sizes are counted as the bytes are
actually written (a zip bomb stops at the limit, whatever its headers claim), and a refused
archive leaves nothing behind. The project's files are only ever read as data, never run.
"""

import hashlib
import os
import shutil
import stat
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings

# Folders a project may carry that are not part of it (caches, Rasa's trained models, VCS).
SKIPPED_PARTS = frozenset({"__MACOSX", "__pycache__", "models", "results", "node_modules"})
CHUNK = 64 * 1024


class ImportProblem(Exception):
    """Why a project could not be imported, in words an admin can act on."""


@dataclass(frozen=True)
class Limits:
    upload_bytes: int
    project_bytes: int
    files: int

    @classmethod
    def from_settings(cls) -> "Limits":
        hub = settings.HUB
        return cls(
            hub["ASSISTANT_MAX_UPLOAD_BYTES"],
            hub["ASSISTANT_MAX_PROJECT_BYTES"],
            hub["ASSISTANT_MAX_FILES"],
        )


@dataclass(frozen=True)
class ImportedProject:
    """A project copied into a staging folder; `root` is the folder with its domain."""

    staging: Path
    root: Path
    content_sha256: str
    file_count: int
    size_bytes: int


def store_root() -> Path:
    root = Path(settings.HUB["ASSISTANT_STORE"])
    root.mkdir(parents=True, exist_ok=True)
    return root


def new_staging_dir() -> Path:
    path = store_root() / f".incoming-{uuid.uuid4().hex}"
    path.mkdir()
    return path


def _megabytes(size: int) -> str:
    return f"{size / (1 << 20):.1f} MB"


def _skipped(parts: tuple[str, ...]) -> bool:
    return any(p in SKIPPED_PARTS or p.startswith(".") for p in parts)


def safe_member_path(name: str) -> PurePosixPath:
    """The relative path a zip member may be written to; ImportProblem if it points elsewhere."""
    if "\\" in name or "\x00" in name:
        raise ImportProblem(f"Refused '{name}': backslashes or NUL in a file name.")
    path = PurePosixPath(name)
    if path.is_absolute() or (path.parts and path.parts[0].endswith(":")):
        raise ImportProblem(f"Refused '{name}': absolute paths are not allowed in the zip.")
    if ".." in path.parts:
        raise ImportProblem(f"Refused '{name}': it points outside the project ('..').")
    return path


def extract_zip(upload, limits: Limits | None = None) -> ImportedProject:
    """Extract an uploaded zip (a file object with `.size`) into a new staging folder."""
    limits = limits or Limits.from_settings()
    size = getattr(upload, "size", None)
    if size is not None and size > limits.upload_bytes:
        raise ImportProblem(
            f"The zip is {_megabytes(size)}; uploads are limited to "
            f"{_megabytes(limits.upload_bytes)}."
        )
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ImportProblem("This file is not a zip archive.") from None
    with archive:
        members = _checked_members(archive, limits)
        staging = new_staging_dir()
        try:
            total = 0
            for info, relative in members:
                target = staging.joinpath(*relative.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, open(target, "xb") as sink:
                    total = _copy_counted(source, sink, total, limits.project_bytes)
            return _finish(staging)
        except (OSError, EOFError, NotImplementedError, zipfile.BadZipFile) as error:
            shutil.rmtree(staging, ignore_errors=True)
            raise ImportProblem(f"The zip could not be unpacked: {error}") from error
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def _checked_members(archive: zipfile.ZipFile, limits: Limits) -> list:
    entries = archive.infolist()
    if len(entries) > limits.files:
        raise ImportProblem(
            f"The zip has {len(entries)} entries; a project may have at most {limits.files}."
        )
    members = []
    seen: set[PurePosixPath] = set()
    for info in entries:
        relative = safe_member_path(info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ImportProblem(f"Refused '{info.filename}': links are not allowed in the zip.")
        if info.flag_bits & 0x1:
            raise ImportProblem(f"Refused '{info.filename}': encrypted zips are not supported.")
        if info.is_dir() or not relative.parts or _skipped(relative.parts):
            continue
        if relative in seen:
            raise ImportProblem(f"Refused '{info.filename}': it appears twice in the zip.")
        seen.add(relative)
        members.append((info, relative))
    return members


def _copy_counted(source, sink, total: int, limit: int) -> int:
    while chunk := source.read(CHUNK):
        total += len(chunk)
        if total > limit:
            raise ImportProblem(
                f"The project unpacks to more than {_megabytes(limit)}, the limit for a project."
            )
        sink.write(chunk)
    return total


def allowed_import_dirs() -> list[Path]:
    return [Path(d).resolve() for d in settings.HUB["ASSISTANT_IMPORT_DIRS"]]


def copy_directory(directory: str, limits: Limits | None = None) -> ImportedProject:
    """Copy a project directory on the server (under HUB_ASSISTANT_IMPORT_DIRS) to staging."""
    limits = limits or Limits.from_settings()
    source = Path(directory).expanduser().resolve()
    allowed = allowed_import_dirs()
    if not any(source == root or root in source.parents for root in allowed):
        listed = ", ".join(str(d) for d in allowed) or "(none)"
        raise ImportProblem(
            f"{source} is not inside a directory projects may be imported from: {listed} "
            "(HUB_ASSISTANT_IMPORT_DIRS)."
        )
    if not source.is_dir():
        raise ImportProblem(f"{source} is not a directory.")
    staging = new_staging_dir()
    try:
        total = count = 0
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source)
            if _skipped(relative.parts) or path.is_symlink() or not path.is_file():
                continue
            if source not in path.resolve().parents:  # reached through a linked folder
                continue
            count += 1
            if count > limits.files:
                raise ImportProblem(f"{source} has more than {limits.files} files.")
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "rb") as reader, open(target, "xb") as sink:
                total = _copy_counted(reader, sink, total, limits.project_bytes)
        return _finish(staging)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise ImportProblem(f"{source} could not be copied: {error}") from error
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _finish(staging: Path) -> ImportedProject:
    root = find_project_root(staging)
    digest, count, size = content_digest(root)
    return ImportedProject(staging, root, digest, count, size)


def find_project_root(folder: Path) -> Path:
    """The folder itself, or its single top folder (zips of a folder), if it has a domain."""
    if _has_domain(folder):
        return folder
    children = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if len(children) == 1 and children[0].is_dir() and _has_domain(children[0]):
        return children[0]
    raise ImportProblem(
        "No Rasa project found: expected domain.yml (or a domain/ folder) at the top of the "
        "zip or directory, or inside its only folder."
    )


def _has_domain(folder: Path) -> bool:
    return (
        (folder / "domain.yml").is_file()
        or (folder / "domain.yaml").is_file()
        or (folder / "domain").is_dir()
    )


def content_digest(root: Path) -> tuple[str, int, int]:
    """SHA-256 over every file's relative path and bytes: equal digests, identical projects."""
    digest = hashlib.sha256()
    count = size = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if _skipped(PurePosixPath(relative).parts):
            continue
        data = path.read_bytes()
        digest.update(relative.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
        count += 1
        size += len(data)
    return digest.hexdigest(), count, size


def place(imported: ImportedProject, assistant_id: int, number: int) -> Path:
    """Move a staged project to its final place in the store; returns the project root."""
    final = store_root() / f"assistant-{assistant_id}" / f"v{number}-{uuid.uuid4().hex[:8]}"
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(imported.staging, final)
    return final / imported.root.relative_to(imported.staging)


def discard(imported: ImportedProject) -> None:
    shutil.rmtree(imported.staging, ignore_errors=True)
