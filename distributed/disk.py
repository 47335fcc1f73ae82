"""What a finished search leaves on disk: its trial checkpoints deleted once the best model is exported
(usually most of what it wrote: every trial keeps its best checkpoints), unless --keep-checkpoints; and
how much it wrote, for the summary. Local folders and URIs (s3://...) alike, through pyarrow's file
systems."""
from pathlib import Path

CHECKPOINT_PREFIX = "checkpoint_"  # Tune's and Ray Train's checkpoint folders: trials, TorchTrainer runs, refit


def _filesystem(place: str):
    import pyarrow.fs as pafs
    if "://" in place:
        return pafs.FileSystem.from_uri(place)
    return pafs.LocalFileSystem(), str(Path(place).resolve())


def _files(place: str):
    """(file system, root, [FileInfo of every file and folder under root])."""
    import pyarrow.fs as pafs
    filesystem, root = _filesystem(place)
    if filesystem.get_file_info(root).type == pafs.FileType.NotFound:
        return filesystem, root, []
    return filesystem, root, filesystem.get_file_info(pafs.FileSelector(root, recursive=True))


def tidy_storage(out_dir, storage: str, keep_checkpoints: bool) -> dict:
    """{"written": bytes under out_dir and storage (counted once when they are the same place),
    "checkpoints": bytes of checkpoint folders under storage, "deleted": whether they were deleted}."""
    import pyarrow.fs as pafs
    filesystem, root, infos = _files(storage)
    folders = [i.path for i in infos if i.type == pafs.FileType.Directory and i.base_name.startswith(CHECKPOINT_PREFIX)]
    # only the outermost: a checkpoint inside another is deleted with it
    folders = [f for f in folders if not any(f.startswith(other + "/") for other in folders)]
    checkpoint_bytes = sum(i.size for i in infos if i.type == pafs.FileType.File
                           and any(i.path.startswith(f + "/") for f in folders))
    written = sum(i.size for i in infos if i.type == pafs.FileType.File)
    if str(Path(out_dir).resolve()) != root:
        written += sum(i.size for i in _files(str(out_dir))[2] if i.type == pafs.FileType.File)
    if not keep_checkpoints:
        for folder in folders:
            filesystem.delete_dir(folder)
    return {"written": written, "checkpoints": checkpoint_bytes, "deleted": not keep_checkpoints and bool(folders)}


def describe_disk(disk: dict) -> str:
    """'the search wrote 215 MB; its trial checkpoints (209 MB) were deleted (--keep-checkpoints keeps them)'."""
    line = f"the search wrote {megabytes(disk['written'])}"
    if disk["deleted"]:
        return (line + f"; its trial checkpoints ({megabytes(disk['checkpoints'])}) were deleted after the export, "
                f"leaving {megabytes(disk['written'] - disk['checkpoints'])} (--keep-checkpoints keeps them)")
    if disk["checkpoints"]:
        return line + f", {megabytes(disk['checkpoints'])} of it trial checkpoints (kept: --keep-checkpoints)"
    return line


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size < 1e9 else f"{size / 1e9:.2f} GB"
