"""Builds engine.native._fastextract (Cython over lxml's C API) at `pip install`; the rest of the package
is configured in pyproject.toml. Where it cannot be compiled (no C compiler), the install goes on without
it and the extractor runs its pure-Python implementation, with the same output."""
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that warns instead of failing the install when the extension does not compile."""

    failed: set = set()

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as e:   # noqa: BLE001  (compiler missing or failing: the Python fallback remains)
            self.failed.add(ext.name)
            self.warn(f"{ext.name} not built ({e}); engine.native uses its pure-Python implementation")

    def copy_extensions_to_source(self):
        # editable installs copy the built extensions next to the sources: not the ones that failed
        built = [e for e in self.extensions if e.name not in self.failed]
        self.extensions, every = built, self.extensions
        try:
            super().copy_extensions_to_source()
        finally:
            self.extensions = every

    def get_outputs(self):
        import os
        return [p for p in super().get_outputs() if os.path.exists(p)]


def _extensions():
    import lxml
    from Cython.Build import cythonize

    ext = Extension("engine.native._fastextract", ["engine/native/_fastextract.pyx"],
                    include_dirs=lxml.get_include())
    # the generated C goes under build/, not next to the sources
    return cythonize([ext], language_level=3, quiet=True, build_dir="build/cython")


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
