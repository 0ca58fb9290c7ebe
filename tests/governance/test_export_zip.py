"""The one-file bundle: a .zip round trip verifies, a flipped byte anywhere in it fails, and an
archive an extractor could be tricked by (traversal, links, duplicates, bombs) is refused unread."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from governance.export import verify_bundle
from governance.export_zip import ZipRefused, canonical_zip, read_zip
from tests.governance.test_export import KEYS, export, home  # noqa: F401  (fixture)


def test_zip_round_trip_verifies_and_holds_the_folder_s_files(home, tmp_path):  # noqa: F811
    archive = export(home, since="2024-05-02", until="2024-05-05", pii_fields=("email",))
    assert archive.name == "bundle" and archive.is_dir()
    zipped = home[0] / "bundle.zip"
    from governance.export import export_bundle
    from tests.governance.test_export import KEY
    root, log = home
    export_bundle(zipped, audit=log, registry_root=root / "registry", public_keys=KEYS, signer=KEY,
                  since="2024-05-02", until="2024-05-05", pii_fields=("email",))
    result = verify_bundle(zipped, KEYS)
    assert result.ok and result.entries == 5 and result.versions == 1, result.problems
    members = read_zip(zipped)
    assert set(members) == {p.relative_to(archive).as_posix() for p in archive.rglob("*") if p.is_file()}
    assert canonical_zip(members) == zipped.read_bytes()


def zip_bundle(home) -> Path:  # noqa: F811
    from governance.export import export_bundle
    from tests.governance.test_export import KEY
    root, log = home
    return export_bundle(root / "bundle.zip", audit=log, registry_root=root / "registry", public_keys=KEYS,
                         signer=KEY, pii_fields=("email",))


def test_a_flipped_byte_anywhere_in_the_zip_fails(home):  # noqa: F811
    path = zip_bundle(home)
    good = path.read_bytes()
    assert verify_bundle(path, KEYS).ok
    passed = []
    for offset in range(len(good)):  # every byte: headers, data, central directory, end record
        data = bytearray(good)
        data[offset] ^= 0x01
        path.write_bytes(bytes(data))
        result = verify_bundle(path, KEYS)
        if result.ok:
            passed.append(offset)
        assert not result.ok or offset in passed
    assert passed == [], f"flips at offsets {passed[:10]} went unseen"


def write_zip(path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in members:
            archive.writestr(info, data)
    return path


def link(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize("members, said", [
    ([("../evil.txt", b"x")], "not a plain relative"),
    ([("/etc/evil", b"x")], "not a plain relative"),
    ([("a\\..\\..\\evil", b"x")], "not a plain relative"),
    ([("C:/evil", b"x")], "not a plain relative"),
    ([(link("keys/k.pub"), b"/etc/passwd")], "not a regular file"),
    ([("dir/", b"")], "not a plain relative"),
    ([("a.txt", b"1"), ("a.txt", b"2")], "appears twice"),
])
def test_unsafe_archives_are_refused_by_name(tmp_path, members, said):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns on the duplicate name we write on purpose
        path = write_zip(tmp_path / "evil.zip", members)
    with pytest.raises(ZipRefused, match=said):
        read_zip(path)
    result = verify_bundle(path, KEYS)
    assert not result.ok and said in result.problems[0]
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path.parent / "evil.txt").exists()


def test_size_and_count_bounds_refuse_a_bomb_unread(tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big", b"\0" * (1 << 20))  # 1 MiB that compresses to ~1 KiB
    with pytest.raises(ZipRefused, match="more than 1000 bytes"):
        read_zip(path, max_total=1000)
    with pytest.raises(ZipRefused, match="more than the 0 a bundle may hold"):
        read_zip(path, max_members=0)


def test_not_a_zip_and_a_missing_file_are_named(tmp_path):
    (tmp_path / "junk.zip").write_bytes(b"not a zip at all")
    assert "not a readable zip" in verify_bundle(tmp_path / "junk.zip", KEYS).problems[0]
    assert not verify_bundle(tmp_path / "absent.zip", KEYS).ok
