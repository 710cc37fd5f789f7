// Package buildinfo reports what a voicegw program was built from: its
// version, the VCS commit and the Go toolchain, for a program's -version flag
// and its build_info metric.
//
// The version is the one the linker was given (go build -ldflags
// "-X main.version=v1.2.3", passed in as Read's argument), else the main
// module's version when the program was installed with go install
// module@version, else "devel". The commit is the one the linker was given
// (-X main.commit=...), else the VCS stamp the go command records when it
// builds inside a git checkout (-buildvcs, on by default, though
// GOFLAGS=-buildvcs=false turns it off), else "unknown".
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Info describes a build.
type Info struct {
	// Version is the program's version ("v1.2.3"), or "devel".
	Version string
	// Commit is the VCS revision the program was built from, or "unknown".
	Commit string
	// CommitTime is the revision's time (RFC 3339), empty when unknown.
	CommitTime string
	// Modified is true when the working tree had uncommitted changes.
	Modified bool
	// GoVersion is the Go toolchain that built the program ("go1.26.8").
	GoVersion string
}

// Read returns the running program's build information. version and commit
// are what the program's linker flags set (empty when none was).
func Read(version, commit string) Info {
	bi, ok := debug.ReadBuildInfo()
	return fromBuildInfo(version, commit, bi, ok)
}

func fromBuildInfo(version, commit string, bi *debug.BuildInfo, ok bool) (in Info) {
	in = Info{Version: version, Commit: "unknown", GoVersion: runtime.Version()}
	defer func() {
		if commit != "" {
			in.Commit = commit
		}
	}()
	if !ok || bi == nil {
		if in.Version == "" {
			in.Version = "devel"
		}
		return in
	}
	if bi.GoVersion != "" {
		in.GoVersion = bi.GoVersion
	}
	if in.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		in.Version = bi.Main.Version
	}
	if in.Version == "" {
		in.Version = "devel"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Commit = s.Value
		case "vcs.time":
			in.CommitTime = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// String is the line a -version flag prints:
// "gateway v1.2.3 (commit 0123abcd…, modified) go1.26.8 linux/amd64".
func (in Info) String() string {
	commit := in.Commit
	if in.Modified {
		commit += ", modified"
	}
	return fmt.Sprintf("%s (commit %s) %s %s/%s", in.Version, commit, in.GoVersion, runtime.GOOS, runtime.GOARCH)
}
