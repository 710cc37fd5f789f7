package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	stamped := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.time", Value: "2026-12-07T09:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	for _, tc := range []struct {
		name    string
		version string
		commit  string
		bi      *debug.BuildInfo
		ok      bool
		want    Info
	}{
		{"linker version wins", "v1.2.3", "", stamped, true,
			Info{Version: "v1.2.3", Commit: "0123456789abcdef", CommitTime: "2026-12-07T09:00:00Z", Modified: true, GoVersion: "go1.26.8"}},
		{"local build is devel", "", "", stamped, true,
			Info{Version: "devel", Commit: "0123456789abcdef", CommitTime: "2026-12-07T09:00:00Z", Modified: true, GoVersion: "go1.26.8"}},
		{"linker commit wins", "", "fedcba", stamped, true,
			Info{Version: "devel", Commit: "fedcba", CommitTime: "2026-12-07T09:00:00Z", Modified: true, GoVersion: "go1.26.8"}},
		{"go install module@version", "", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.4.0"}}, true,
			Info{Version: "v0.4.0", Commit: "unknown", GoVersion: "go1.26.8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fromBuildInfo(tc.version, tc.commit, tc.bi, tc.ok); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if got := fromBuildInfo("", "", nil, false); got.Version != "devel" || got.Commit != "unknown" || got.GoVersion == "" {
		t.Errorf("without build info: %+v", got)
	}
}

func TestString(t *testing.T) {
	s := Info{Version: "v1.2.3", Commit: "abc", Modified: true, GoVersion: "go1.26.8"}.String()
	if !strings.HasPrefix(s, "v1.2.3 (commit abc, modified) go1.26.8 ") {
		t.Errorf("String() = %q", s)
	}
}
