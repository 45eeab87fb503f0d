"""Names a `product_slug` must not take, and the lists copier.yml refuses them with.

A product's package `src/<product_slug>/` sits on the same import path as the standard
library and every package installed in the product's environment, so a slug named like
one of them shadows it (`product_slug=select` fails with `No module named
'select.definitions'`), and a Python keyword cannot be imported at all. Copier validators
are Jinja and cannot import Python, so copier.yml carries the three lists inline;
tests/test_answers.py checks that they equal what this module computes.

    uv run python tests/reserved_names.py                    # print the lists as in copier.yml
    uv run python tests/reserved_names.py --write            # rewrite them in copier.yml
    uv run python tests/reserved_names.py --scan DIR [DIR ...]
        # top-level names installed in the environments of rendered products (DIR/.venv)

To refresh INSTALLED after the template's dependencies change: render a product for every
`warehouse` and every `python_version`, `uv sync` each, run `--scan` on them, paste the
names into INSTALLED, then `--write`.
"""

from __future__ import annotations

import keyword
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIER_YML = ROOT / "copier.yml"

#: What a slug may look like at all (copier.yml's rule 1 for product_slug); a name of
#: another shape can never be a slug, so it is left out of the lists.
SLUG = re.compile(r"[a-z][a-z0-9_]*")
MAX_SLUG_LENGTH = 40

#: The Python versions a product may run on: the choices of `python_version`.
PYTHON_VERSIONS = ("3.11", "3.12", "3.13")


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: `sys.stdlib_module_names` of Python 3.11 that a slug could take (private and dunder
#: modules start with _, which no slug does).
_STDLIB_3_11 = _names(
    """
    abc aifc antigravity argparse array ast asynchat asyncio asyncore atexit audioop base64
    bdb binascii bisect builtins bz2 calendar cgi cgitb chunk cmath cmd code codecs
    codeop collections colorsys compileall concurrent configparser contextlib contextvars
    copy copyreg crypt csv ctypes curses dataclasses datetime dbm decimal difflib dis
    distutils doctest email encodings ensurepip enum errno faulthandler fcntl filecmp
    fileinput fnmatch fractions ftplib functools gc genericpath getopt getpass gettext glob
    graphlib grp gzip hashlib heapq hmac html http idlelib imaplib imghdr imp importlib
    inspect io ipaddress itertools json keyword lib2to3 linecache locale logging lzma
    mailbox mailcap marshal math mimetypes mmap modulefinder msilib msvcrt multiprocessing
    netrc nis nntplib nt ntpath nturl2path numbers opcode operator optparse os ossaudiodev
    pathlib pdb pickle pickletools pipes pkgutil platform plistlib poplib posix posixpath
    pprint profile pstats pty pwd py_compile pyclbr pydoc pydoc_data pyexpat queue quopri
    random re readline reprlib resource rlcompleter runpy sched secrets select selectors
    shelve shlex shutil signal site smtpd smtplib sndhdr socket socketserver spwd sqlite3
    sre_compile sre_constants sre_parse ssl stat statistics string stringprep struct
    subprocess sunau symtable sys sysconfig syslog tabnanny tarfile telnetlib tempfile
    termios textwrap this threading time timeit tkinter token tokenize tomllib trace
    traceback tracemalloc tty turtle turtledemo types typing unicodedata unittest urllib uu
    uuid venv warnings wave weakref webbrowser winreg winsound wsgiref xdrlib xml xmlrpc
    zipapp zipfile zipimport zlib zoneinfo
    """
)

#: How the later versions differ from 3.11, among the names a slug could take.
_STDLIB_REMOVED = {
    "3.12": _names("asynchat asyncore distutils imp smtpd"),
    "3.13": _names(
        """
        aifc audioop cgi cgitb chunk crypt imghdr lib2to3 mailcap msilib nis nntplib
        ossaudiodev pipes sndhdr spwd sunau telnetlib uu xdrlib
        """
    ),
}
_STDLIB_ADDED: dict[str, frozenset[str]] = {"3.12": frozenset(), "3.13": frozenset()}


def _stdlib_committed() -> dict[str, frozenset[str]]:
    """The committed standard-library names of each version a product may run on."""
    versions = {"3.11": _STDLIB_3_11}
    previous = _STDLIB_3_11
    for version in PYTHON_VERSIONS[1:]:
        previous = (previous - _STDLIB_REMOVED[version]) | _STDLIB_ADDED[version]
        versions[version] = previous
    return versions


STDLIB_BY_VERSION = _stdlib_committed()

#: Top-level import names installed in a product's environment (dependencies and dev
#: dependencies, for every `warehouse` and `python_version`), as `--scan` lists them.
_INSTALLED_SCANNED = _names(
    """
    adbc_driver_duckdb agate alembic annotated_doc annotated_types antlr4 anyio
    asn1crypto attr attrs babel backoff backports boto3 botocore certifi cffi cfgv
    chardet charset_normalizer click click_aliases colorama coloredlogs cryptography
    daff dagster dagster_cloud_cli dagster_dbt dagster_dg_cli dagster_dg_core
    dagster_graphql dagster_pipes dagster_rest_resources dagster_shared
    dagster_webserver dateutil db_dtypes dbt dbt_common dbt_extractor
    dbt_semantic_interfaces dbtlabs deepdiff detect_secrets diff_cover distlib distro
    docstring_parser dotenv dsi_pydantic_shim duckdb fastjsonschema filelock fsspec git
    gitdb github3 google google_auth_oauthlib google_crc32c gql graphene graphql
    graphql_relay grpc grpc_health grpc_status h11 httpcore httptools httpx
    humanfriendly identify idna importlib_metadata iniconfig intake isodate jaraco
    jeepney jinja2 jmespath jsonschema jsonschema_specifications jupyter jupyter_core
    jwt keyring leather lz4 mako markdown markdown_it markupsafe mashumaro mdurl
    more_itertools msgpack multidict nbformat networkx nodeenv numpy oauthlib
    open_data_contract_standard opentelemetry orderly_set orjson packaging pandas
    pandas_gbq parsedatetime pathlib_abc pathspec platformdirs pluggy pre_commit
    pre_commit_hooks prompt_toolkit propcache proto psutil py py4j pyarrow pyasn1
    pyasn1_modules pycparser pydantic pydantic_core pydata_google_auth pygments pyspark
    pytest python_discovery pytimeparse pytz questionary referencing regex requests
    requests_oauthlib requests_toolbelt rich rpds ruamel ruff s3transfer secretstorage
    setuptools shellingham six slugify smmap sniffio snowflake snowplow_tracker
    sortedcontainers sqlalchemy sqlfluff sqlglot sqlglotrs sqlparams sqlparse starlette
    structlog tabulate tblib tenacity termcolor test text_unidecode tomli tomlkit
    toposort tqdm traitlets trino typer typing_extensions typing_inspection tzdata
    tzlocal upath uritemplate urllib3 uvicorn uvloop validators vertex_ray vertexai
    virtualenv watchdog watchfiles wcwidth websockets yaml yarl yaspin zipp zstandard
    """
)

#: Names reserved beyond the scan: the product's own test package, the standard library's
#: regression tests (not in sys.stdlib_module_names), the shared library products are
#: moving to, and packages a product commonly adds or is updated with.
_INSTALLED_EXTRA = _names("tests test dagster_data_product dagster_duckdb copier")

INSTALLED = _INSTALLED_SCANNED | _INSTALLED_EXTRA


def _slug_like(names: object) -> frozenset[str]:
    return frozenset(
        name
        for name in names  # type: ignore[attr-defined]
        if SLUG.fullmatch(name) and len(name) <= MAX_SLUG_LENGTH
    )


def running_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def running_stdlib() -> frozenset[str]:
    """Slug-like names of `sys.stdlib_module_names` of the running Python."""
    return _slug_like(sys.stdlib_module_names)


def keywords() -> list[str]:
    """Python keywords a slug could take (True, False and None have capitals)."""
    return sorted(_slug_like(keyword.kwlist))


def stdlib_modules() -> list[str]:
    """Standard-library modules of every Python a product may run on.

    The running Python's own names stand in for the committed ones of its version.
    """
    versions = dict(STDLIB_BY_VERSION)
    if running_version() in versions:
        versions[running_version()] = running_stdlib()
    return sorted(frozenset().union(*versions.values()))


def installed_packages() -> list[str]:
    """Names of packages a product installs, standard-library modules left out."""
    return sorted(_slug_like(INSTALLED) - frozenset(stdlib_modules()))


LISTS = {
    "keywords": keywords,
    "stdlib_modules": stdlib_modules,
    "installed_packages": installed_packages,
}


def jinja_set(name: str, names: list[str], indent: str = "    ") -> str:
    """The `{%- set name = [...] -%}` statement copier.yml holds for one list."""
    items = ", ".join(f"'{item}'" for item in names)
    body = textwrap.fill(
        items, width=96, initial_indent=indent + "  ", subsequent_indent=indent + "  "
    )
    return f"{indent}{{%- set {name} = [\n{body}\n{indent}] -%}}"


SET_STATEMENT = re.compile(r"\{%- set (\w+) = \[(.*?)\] -%\}", re.DOTALL)


def lists_in(text: str) -> dict[str, list[str]]:
    """The lists set by `{%- set name = [...] -%}` statements in copier.yml's text."""
    return {
        match.group(1): re.findall(r"'([^']*)'", match.group(2))
        for match in SET_STATEMENT.finditer(text)
    }


def write(path: Path = COPIER_YML) -> None:
    """Rewrite every `{%- set name = [...] -%}` list in copier.yml, keeping its indentation."""
    text = path.read_text()
    for name, compute in LISTS.items():
        pattern = re.compile(rf"^( *)\{{%- set {name} = \[.*?\] -%\}}", re.DOTALL | re.MULTILINE)
        if pattern.search(text) is None:
            raise SystemExit(f"{path}: no `{{%- set {name} = [...] -%}}` to rewrite")
        names = compute()

        def statement(match: re.Match[str], name: str = name, names: list[str] = names) -> str:
            return jinja_set(name, names, match.group(1))

        text = pattern.sub(statement, text)
    path.write_text(text)


def scan(site_packages: Path) -> frozenset[str]:
    """Top-level names importable from one environment's site-packages folder."""
    names: set[str] = set()
    for entry in site_packages.iterdir():
        if entry.name.endswith((".dist-info", ".egg-info")):
            top_level = entry / "top_level.txt"
            if top_level.is_file():
                names.update(
                    line.strip().split("/")[0]
                    for line in top_level.read_text().splitlines()
                    if line.strip()
                )
        elif entry.is_dir():
            if entry.name != "__pycache__" and not entry.name.endswith(".data"):
                names.add(entry.name)
        elif entry.suffix in {".py", ".so", ".pyd"}:
            names.add(entry.name.split(".")[0])
    # mypyc's helper modules are named after a hash that changes with every release.
    return frozenset(name for name in _slug_like(names) if not name.endswith("__mypyc"))


def main(argv: list[str]) -> None:
    if argv[:1] == ["--write"]:
        write()
    elif argv[:1] == ["--scan"]:
        found: set[str] = set()
        for folder in argv[1:]:
            for site_packages in Path(folder).glob(".venv/lib/python3*/site-packages"):
                found |= scan(site_packages)
        product_packages = {
            path.name for folder in argv[1:] for path in Path(folder, "src").glob("*")
        }
        print(textwrap.fill(" ".join(sorted(found - product_packages - set(stdlib_modules())))))
    else:
        for name, compute in LISTS.items():
            print(jinja_set(name, compute()))


if __name__ == "__main__":
    main(sys.argv[1:])
