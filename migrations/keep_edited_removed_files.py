"""Keep the team's edited version of every file a `copier update` deleted.

Copier deletes a file the new release no longer has, whatever the team changed in it, with
no conflict and no `.rej`. Run as an `after` migration (copier.yml `_migrations`), this
finds the tracked files the update deleted, renders the release the product had to tell
which ones the team edited, and copies the team's version of those, from its last commit
(an update never commits), to `.copier-removed/<path>`, listing them. Files the team never
changed are left deleted.

Usage, from the product's folder, by Copier's interpreter:
    python keep_edited_removed_files.py <answers file>
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import copier
import yaml

KEPT = Path(".copier-removed")


def git(*args: str) -> bytes:
    return subprocess.run(["git", *args], check=True, capture_output=True).stdout


def deleted_files() -> list[str]:
    """Tracked files missing from the working tree: the product was clean before the update."""
    return [name for name in git("ls-files", "--deleted", "-z").decode().split("\0") if name]


def keep_edited(answers_file: str) -> list[str]:
    removed = deleted_files()
    if not removed:
        return []
    answers = yaml.safe_load(git("show", f"HEAD:./{answers_file}"))
    kept = []
    with tempfile.TemporaryDirectory() as old:
        copier.run_copy(
            answers["_src_path"],
            old,
            vcs_ref=answers["_commit"],
            data={key: value for key, value in answers.items() if not key.startswith("_")},
            defaults=True,
            overwrite=True,
            quiet=True,
            unsafe=True,
            skip_tasks=True,
        )
        for name in removed:
            team = git("show", f"HEAD:./{name}")
            rendered = Path(old, name)
            if rendered.is_file() and rendered.read_bytes() == team:
                continue
            (KEPT / name).parent.mkdir(parents=True, exist_ok=True)
            (KEPT / name).write_bytes(team)
            # `--conflict rej` leaves the team's edit of a deleted file behind as a patch.
            Path(f"{name}.rej").unlink(missing_ok=True)
            kept.append(name)
    return kept


def main() -> None:
    kept = keep_edited(sys.argv[1])
    if kept:
        print(
            "The update deleted files your team had edited: the template no longer has them, "
            "their machinery now lives in the dagster-data-product package. Your versions "
            f"are kept, untracked, in {KEPT}/; carry what you still need into your own "
            f"modules, then delete {KEPT}/.\n" + "".join(f"  {name}\n" for name in kept),
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
