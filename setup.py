"""Map each top-level folder to a subpackage of metrics_operator.

The repository keeps one folder per concept (api/, controller/, sink/ and so on),
so the architecture is visible at a glance. The installed code lives under one
import name, metrics_operator, so that top-level names such as ``api`` stay free.
pyproject.toml cannot express a folder-to-package mapping for nested packages,
hence this file.
"""

from setuptools import find_packages, setup

PACKAGE_FOLDERS = ["api", "cli", "containers", "controller", "local", "sink"]

packages: list[str] = []
package_dir: dict[str, str] = {}
for folder in PACKAGE_FOLDERS:
    package_dir[f"metrics_operator.{folder}"] = folder
    packages.append(f"metrics_operator.{folder}")
    packages += [f"metrics_operator.{folder}.{name}" for name in find_packages(folder)]

setup(packages=packages, package_dir=package_dir, include_package_data=True)
