"""What a source file is, from its name and bytes: language (extension and file-name tables), lock file,
vendored path, binary, minified, and the SPDX license of a LICENSE/COPYING text. Used by code.py and
code_tar.py; the `code:*` reasons are listed in code.py."""
from __future__ import annotations

import hashlib
import os
import re

EXTENSIONS = {
    "py": "Python", "pyi": "Python", "pyw": "Python", "pyx": "Cython", "pxd": "Cython", "pxi": "Cython",
    "ipynb": "Jupyter Notebook", "c": "C", "h": "C", "cc": "C++", "cpp": "C++", "cxx": "C++", "c++": "C++",
    "hh": "C++", "hpp": "C++", "hxx": "C++", "h++": "C++", "ipp": "C++", "inl": "C++", "cu": "CUDA", "cuh": "CUDA",
    "m": "Objective-C", "mm": "Objective-C++", "cs": "C#", "java": "Java", "kt": "Kotlin", "kts": "Kotlin",
    "scala": "Scala", "sc": "Scala", "groovy": "Groovy", "gradle": "Groovy", "clj": "Clojure", "cljs": "Clojure",
    "cljc": "Clojure", "edn": "Clojure", "go": "Go", "rs": "Rust", "swift": "Swift", "js": "JavaScript",
    "mjs": "JavaScript", "cjs": "JavaScript", "jsx": "JavaScript", "ts": "TypeScript", "tsx": "TypeScript",
    "mts": "TypeScript", "cts": "TypeScript", "vue": "Vue", "svelte": "Svelte", "php": "PHP", "phtml": "PHP",
    "rb": "Ruby", "rake": "Ruby", "gemspec": "Ruby", "pl": "Perl", "pm": "Perl", "t": "Perl", "lua": "Lua",
    "r": "R", "jl": "Julia", "hs": "Haskell", "lhs": "Haskell", "ml": "OCaml", "mli": "OCaml", "fs": "F#",
    "fsi": "F#", "fsx": "F#", "ex": "Elixir", "exs": "Elixir", "erl": "Erlang", "hrl": "Erlang", "elm": "Elm",
    "dart": "Dart", "nim": "Nim", "zig": "Zig", "d": "D", "v": "Verilog", "sv": "SystemVerilog", "svh": "SystemVerilog",
    "vhd": "VHDL", "vhdl": "VHDL", "f": "Fortran", "f90": "Fortran", "f95": "Fortran", "f03": "Fortran",
    "for": "Fortran", "pas": "Pascal", "pp": "Pascal", "ada": "Ada", "adb": "Ada", "ads": "Ada", "cob": "COBOL",
    "cbl": "COBOL", "lisp": "Common Lisp", "lsp": "Common Lisp", "el": "Emacs Lisp", "scm": "Scheme",
    "ss": "Scheme", "rkt": "Racket", "pro": "Prolog", "sol": "Solidity", "asm": "Assembly", "s": "Assembly",
    "nasm": "Assembly", "sh": "Shell", "bash": "Shell", "zsh": "Shell", "ksh": "Shell", "fish": "fish",
    "ps1": "PowerShell", "psm1": "PowerShell", "bat": "Batchfile", "cmd": "Batchfile", "awk": "Awk",
    "sql": "SQL", "psql": "SQL", "html": "HTML", "htm": "HTML", "xhtml": "HTML", "css": "CSS", "scss": "SCSS",
    "sass": "Sass", "less": "Less", "styl": "Stylus", "xml": "XML", "xsd": "XML", "xsl": "XSLT", "xslt": "XSLT",
    "svg": "SVG", "json": "JSON", "jsonc": "JSON", "json5": "JSON5", "yaml": "YAML", "yml": "YAML", "toml": "TOML",
    "ini": "INI", "cfg": "INI", "conf": "INI", "properties": "INI", "md": "Markdown", "markdown": "Markdown",
    "rst": "reStructuredText", "tex": "TeX", "sty": "TeX", "cls": "TeX", "bib": "BibTeX", "adoc": "AsciiDoc",
    "org": "Org", "proto": "Protocol Buffer", "thrift": "Thrift", "graphql": "GraphQL", "gql": "GraphQL",
    "cmake": "CMake", "mk": "Makefile", "mak": "Makefile", "dockerfile": "Dockerfile", "tf": "HCL", "hcl": "HCL",
    "nix": "Nix", "rl": "Ragel", "y": "Yacc", "yy": "Yacc", "l": "Lex", "g4": "ANTLR", "pyj": "Python",
    "coffee": "CoffeeScript", "hx": "Haxe", "purs": "PureScript", "idr": "Idris", "agda": "Agda", "lean": "Lean",
    "v.py": "Python", "sage": "Sage", "mat": "MATLAB", "jinja": "Jinja", "j2": "Jinja", "twig": "Twig",
    "hbs": "Handlebars", "mustache": "Mustache", "ejs": "EJS", "erb": "HTML+ERB", "haml": "Haml", "pug": "Pug",
    "vim": "Vim Script", "tcl": "Tcl", "cr": "Crystal", "gd": "GDScript", "glsl": "GLSL", "hlsl": "HLSL",
    "wgsl": "WGSL", "cl": "OpenCL", "ino": "Arduino", "applescript": "AppleScript", "vb": "Visual Basic",
    "bas": "Visual Basic", "vbs": "VBScript", "sas": "SAS", "stan": "Stan", "smali": "Smali", "mojo": "Mojo",
}
FILENAMES = {
    "makefile": "Makefile", "gnumakefile": "Makefile", "dockerfile": "Dockerfile", "containerfile": "Dockerfile",
    "cmakelists.txt": "CMake", "rakefile": "Ruby", "gemfile": "Ruby", "vagrantfile": "Ruby", "podfile": "Ruby",
    "jenkinsfile": "Groovy", "build": "Starlark", "build.bazel": "Starlark", "workspace": "Starlark",
    "sconstruct": "Python", "sconscript": "Python", "justfile": "Just", "meson.build": "Meson",
    ".bashrc": "Shell", ".zshrc": "Shell", ".profile": "Shell",
}
LOCK_FILES = {
    "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb", "cargo.lock",
    "poetry.lock", "pipfile.lock", "pdm.lock", "uv.lock", "conda-lock.yml", "gemfile.lock", "composer.lock",
    "go.sum", "mix.lock", "pubspec.lock", "podfile.lock", "packages.lock.json", "paket.lock", "flake.lock",
    "gradle.lockfile", "cartfile.resolved", "package.resolved", "shard.lock", "stack.yaml.lock",
    "deno.lock", "bazel.lock", "module.bazel.lock", "manifest.toml.lock", "renv.lock",
}
VENDORED_DIRS = {
    "vendor", "vendors", "vendored", "_vendor", "node_modules", "bower_components", "jspm_packages",
    "third_party", "third-party", "thirdparty", "3rdparty", "3rd_party", "site-packages", "dist-packages",
    "pods", "carthage", ".yarn", ".venv", "venv", ".tox", "__pypackages__",
}
# VCS internals and build caches: not source, skipped without a reject
SKIP_DIRS = {".git", ".hg", ".svn", ".bzr", "CVS", "__pycache__"}
_MIN_NAME = re.compile(r"[.-]min\.(js|css|mjs)$|\.bundle\.js$|\.(js|css)\.map$", re.I)


def code_language(path: str) -> str | None:
    """Programming language from the file name (extension table), or None."""
    base = os.path.basename(path)
    lang = FILENAMES.get(base.lower())
    if lang:
        return lang
    if "." not in base.strip("."):
        return None
    return EXTENSIONS.get(base.rsplit(".", 1)[1].lower())


def git_blob_sha(data: bytes) -> str:
    """The git blob id of `data` (what The Stack's `hexsha` holds)."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def classify(path: str, size: int | None, max_bytes: int) -> str | None:
    """Rejection reason from the path and size alone (before reading the content)."""
    if size is not None and size > max_bytes:
        return "code:too_large"
    parts = path.replace("\\", "/").split("/")
    if parts[-1].lower() in LOCK_FILES:
        return "code:lock_file"
    if any(p.lower() in VENDORED_DIRS for p in parts[:-1]):
        return "code:vendored"
    return None


def decode_source(data: bytes) -> str | None:
    """Text of a source file, or None when it is binary (NUL bytes, not UTF-8/UTF-16)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def is_minified(path: str, text: str) -> bool:
    """A `.min.js`-style name, or lines over 1000 characters averaging over 100 (The Stack's thresholds)."""
    if _MIN_NAME.search(path):
        return True
    if len(text) < 1000:
        return False
    lines = text.split("\n")
    longest = max(map(len, lines))
    return longest > 1000 and len(text) / len(lines) > 100



_SPDX = [
    ("Apache-2.0", r"apache license\s*,?\s*version 2\.0|apache-2\.0"),
    ("MIT", r"permission is hereby granted, free of charge"),
    ("GPL-3.0", r"gnu general public license\s*version 3|gpl-3\.0"),
    ("GPL-2.0", r"gnu general public license\s*version 2|gpl-2\.0"),
    ("LGPL-3.0", r"gnu lesser general public license\s*version 3"),
    ("LGPL-2.1", r"gnu lesser general public license\s*version 2\.1"),
    ("AGPL-3.0", r"gnu affero general public license"),
    ("MPL-2.0", r"mozilla public license,?\s*v(ersion)?\.? 2\.0"),
    ("BSD-3-Clause", r"neither the name of .{0,200} nor the names of (its|the) contributors"),
    ("BSD-2-Clause", r"redistributions in binary form must reproduce the above copyright"),
    ("ISC", r"permission to use, copy, modify, and/or distribute this software for any purpose"),
    ("Unlicense", r"this is free and unencumbered software released into the public domain"),
    ("CC0-1.0", r"cc0 1\.0 universal"),
]


def detect_license(text: str) -> str | None:
    """The SPDX id of the first license whose telltale phrase is in the text's first 20,000 characters."""
    t = re.sub(r"\s+", " ", text[:20000].lower())
    for spdx, pat in _SPDX:
        if re.search(pat, t):
            return spdx
    return None


def is_license_file(path: str) -> bool:
    """A top-level LICENSE / LICENCE / COPYING file (its text names the repository's license)."""
    base = path.rsplit("/", 1)[-1].lower()
    return "/" not in path and (base.startswith("license") or base.startswith("licence") or base.startswith("copying"))
