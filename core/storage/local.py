"""``LocalStorage``: media as files under one root directory, written atomically."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import typing
from pathlib import Path

from .base import _TMP_PREFIX, Data, Storage, StorageError, _validate_key
from .signing import SignedToken, UrlSigner

_CHUNK = 1024 * 1024


def _copy_stream(src: typing.BinaryIO, dst: typing.BinaryIO) -> int:
    total = 0
    while True:
        chunk = src.read(_CHUNK)
        if not chunk:
            return total
        dst.write(chunk)
        total += len(chunk)


class LocalStorage(Storage):
    """Files under one root directory; downloads go through app-signed, expiring tokens."""

    scheme = "file"

    def __init__(self, root: str | Path, secret_key: str) -> None:
        if not secret_key:
            raise ValueError("LocalStorage needs a secret_key to sign download URLs")
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._root_str = str(self.root)
        self._signer = UrlSigner(secret_key)

    def __repr__(self) -> str:
        return f"<LocalStorage {self.root}>"

    # -- keys and paths -------------------------------------------------------------
    def path_for(self, key: str) -> Path:
        """The file for ``key``; ``ValueError`` for keys that could point outside the root."""
        return Path(self._checked(key)[0])

    def _checked(self, key: str) -> tuple[str, os.stat_result | None]:
        """``key``'s path under the root, and its ``lstat`` (None when it does not exist).

        A validated key has no ``..`` or absolute part, so only a symlink inside the root could
        lead out of it (a symlinked directory must not become a way out). Walking the key's
        own segments with ``lstat`` proves there is none in a few system calls; only when one
        is found does the full ``realpath`` decide, as ``Path.resolve`` did for every key
        before (pure Python per segment of the whole path: most of a clone's 1,000 copies)."""
        parts = _validate_key(key)
        path = self._root_str
        st = None
        for i, part in enumerate(parts):
            path = f"{path}/{part}"
            try:
                st = os.lstat(path)
            except (FileNotFoundError, NotADirectoryError):
                # Nothing below exists, so nothing below can be a link; the file is to be made.
                return self._root_str + "/" + "/".join(parts), None
            if stat.S_ISLNK(st.st_mode):
                resolved = Path(path).joinpath(*parts[i + 1:]).resolve()
                if resolved != self.root and self.root not in resolved.parents:
                    raise ValueError(f"storage key resolves outside the storage root: {key!r}")
                full = self._root_str + "/" + "/".join(parts)
                try:
                    return full, os.stat(full)
                except OSError:
                    return full, None
        return path, st

    def _tmp_path(self, directory: Path) -> Path:
        return directory / f"{_TMP_PREFIX}{secrets.token_hex(8)}"

    def _open_tmp(self, directory: Path) -> tuple[Path, typing.BinaryIO]:
        directory.mkdir(parents=True, exist_ok=True)
        while True:
            tmp = self._tmp_path(directory)
            try:
                # O_EXCL + 0o666 lets the umask decide permissions, as a plain open() would.
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:  # pragma: no cover - 64 random bits
                continue
            return tmp, os.fdopen(fd, "wb")

    def _write_atomic(self, key: str, writer: typing.Callable[[typing.BinaryIO], int]) -> int:
        target = self.path_for(key)
        tmp: Path | None = None
        try:
            tmp, fh = self._open_tmp(target.parent)
            with fh:
                written = writer(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            tmp = None
            return written
        except OSError as exc:
            raise StorageError(f"could not write {key!r}: {exc}") from exc
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)

    # -- Storage --------------------------------------------------------------------
    def put(self, key: str, data: Data, content_type: str = "application/octet-stream") -> int:
        # content_type is not persisted: the file route derives it from the key's extension.
        if isinstance(data, (bytes, bytearray, memoryview)):
            payload = bytes(data)

            def write(fh: typing.BinaryIO) -> int:
                fh.write(payload)
                return len(payload)

            return self._write_atomic(key, write)
        return self._write_atomic(key, lambda fh: _copy_stream(data, fh))

    def put_file(
        self, path: str | os.PathLike[str], key: str, content_type: str = "application/octet-stream"
    ) -> int:
        try:
            src = open(path, "rb")
        except OSError as exc:
            raise StorageError(f"could not read {os.fspath(path)!r} for {key!r}: {exc}") from exc
        with src:
            return self._write_atomic(key, lambda fh: _copy_stream(src, fh))

    def get(self, key: str) -> bytes:
        path = self.path_for(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise KeyError(key) from None
        except OSError as exc:
            raise StorageError(f"could not read {key!r}: {exc}") from exc

    def download_to(self, key: str, path: str | os.PathLike[str]) -> None:
        src = self.path_for(key)
        dest = Path(path)
        if not src.is_file():
            raise KeyError(key)
        tmp: Path | None = None
        try:
            tmp, fh = self._open_tmp(dest.parent)
            with fh, open(src, "rb") as sfh:
                _copy_stream(sfh, fh)
            os.replace(tmp, dest)
            tmp = None
        except FileNotFoundError:
            raise KeyError(key) from None  # deleted between the check and the copy
        except OSError as exc:
            raise StorageError(f"could not download {key!r} to {dest}: {exc}") from exc
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def size(self, key: str) -> int:
        path = self.path_for(key)
        try:
            if not path.is_file():
                raise KeyError(key)
            return path.stat().st_size
        except FileNotFoundError:
            raise KeyError(key) from None
        except OSError as exc:
            raise StorageError(f"could not stat {key!r}: {exc}") from exc

    def delete(self, key: str) -> None:
        path = self.path_for(key)
        try:
            path.unlink(missing_ok=True)
        except IsADirectoryError:
            return  # a "folder" is not an object; nothing stored under this exact key
        except OSError as exc:
            raise StorageError(f"could not delete {key!r}: {exc}") from exc
        self._prune_empty_dirs(path.parent)

    def _prune_empty_dirs(self, directory: Path) -> None:
        # Deleted projects should not leave a skeleton of empty folders behind.
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    def delete_prefix(self, prefix: str) -> int:
        count = 0
        for key in self.list(prefix):
            self.delete(key)
            count += 1
        return count

    def list(self, prefix: str = "") -> list[str]:
        start = self.root
        if prefix:
            # Only the complete folders of the prefix narrow the walk; the tail is a
            # plain string prefix ("media/ab" matches "media/abc.png").
            head = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
            if head:
                start = self.path_for(head)
            elif "\\" in prefix or "\x00" in prefix or prefix.startswith("/"):
                raise ValueError(f"invalid storage prefix: {prefix!r}")
        if not start.is_dir():
            return []
        keys: list[str] = []
        try:
            for dirpath, _dirnames, filenames in os.walk(start):
                rel_dir = Path(dirpath).relative_to(self.root).as_posix()
                for name in filenames:
                    if name.startswith(_TMP_PREFIX):
                        continue
                    key = name if rel_dir == "." else f"{rel_dir}/{name}"
                    if key.startswith(prefix):
                        keys.append(key)
        except OSError as exc:
            raise StorageError(f"could not list {prefix!r}: {exc}") from exc
        return sorted(keys)

    def copy(self, src_key: str, dst_key: str) -> None:
        src, src_stat = self._checked(src_key)
        dst, _ = self._checked(dst_key)
        if src_stat is None or not stat.S_ISREG(src_stat.st_mode):
            raise KeyError(src_key)
        if src == dst:
            return
        tmp: str | None = None
        try:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            try:
                # A hard link costs nothing and is safe to share because every write replaces
                # the file (new inode) instead of modifying it in place. Linking straight to a
                # new key is atomic; an existing key is replaced through a temporary link.
                os.link(src, dst)
                return
            except FileExistsError:
                tmp = str(self._tmp_path(Path(dst).parent))
                os.link(src, tmp)
            except FileNotFoundError:
                raise
            except OSError:  # no hard links here (another file system): a real copy
                tmp = str(self._tmp_path(Path(dst).parent))
                shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
            tmp = None
        except FileNotFoundError:
            raise KeyError(src_key) from None
        except OSError as exc:
            raise StorageError(f"could not copy {src_key!r} to {dst_key!r}: {exc}") from exc
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    # -- signed URLs ----------------------------------------------------------------
    def signed_url(
        self,
        key: str,
        expires_in: int = 3600,
        filename: str | None = None,
        base_url: str = "",
        content_type: str | None = None,
    ) -> str:
        """``{base_url}/api/v1/files/<token>``; the expiry travels inside the signed token."""
        self.path_for(key)  # refuse to sign a key the file route would refuse to serve
        return self._signer.url(key, expires_in, filename, base_url, content_type)

    def read_token(self, token: str) -> SignedToken:
        """Verify ``token`` and return everything it grants (the file route wants the filename)."""
        return self._signer.read(token)

    def verify_token(self, token: str) -> str:
        """The key a token grants; ``SignedUrlError`` (``expired`` says which) otherwise."""
        return self.read_token(token).key
