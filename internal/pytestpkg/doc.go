// Package pytestpkg holds no code: its test runs Debian's pytest inside the
// sandbox as a user would, as a user package (runtime.Package{HostDir}),
// with no flags, on a small suite that uses the fixtures ordinary projects
// use (testdata/suite). fetch.sh fetches pytest and what it imports, pinned
// by version and sha256 (`make pytest-pkg`, a prerequisite of `make test`).
package pytestpkg
