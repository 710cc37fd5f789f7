package recording

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"
)

// recordTone records secs seconds of a 1 kHz tone on one stream.
func recordTone(t *testing.T, r *Recorder, secs int) {
	t.Helper()
	s := r.Stream(0)
	must(t, s.StartAt(0))
	for k := int64(0); k < int64(50*secs); k++ {
		must(t, s.Write(k*160, tone(1000, 8000, rate8k, k*160, 160)))
	}
}

// TestDirWithoutUploader: files stay; Recover only repairs.
func TestDirWithoutUploader(t *testing.T) {
	d, err := OpenDir(DirConfig{Path: t.TempDir()})
	must(t, err)
	r, err := d.Create(ID{"A", "B", "C"}, Config{Start: t0})
	must(t, err)
	recordTone(t, r, 1)
	res, err := r.Finish(t.Context())
	if !errors.Is(err, ErrNoUploader) || res.Path != d.FilePath(ID{"A", "B", "C"}, WAV) {
		t.Fatalf("Finish: %+v, %v", res, err)
	}
	recs, err := d.Recover(t.Context())
	must(t, err)
	if len(recs) != 1 || recs[0].Uploaded || recs[0].Info.Duration != time.Second {
		t.Fatalf("Recover: %+v", recs)
	}
	if _, err := OpenDir(DirConfig{}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("OpenDir without a path: %v", err)
	}
}

// TestDirAbort: an aborted recording leaves nothing.
func TestDirAbort(t *testing.T) {
	d, err := OpenDir(DirConfig{Path: t.TempDir()})
	must(t, err)
	id := ID{"A", "B", "C"}
	r, err := d.Create(id, Config{Start: t0})
	must(t, err)
	recordTone(t, r, 1)
	must(t, r.Abort())
	if _, err := os.Stat(r.Path()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("aborted file still there: %v", err)
	}
	r2, err := d.Create(id, Config{Start: t0})
	must(t, err)
	if _, err := d.Create(id, Config{Start: t0}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create of a recording in progress: %v, want fs.ErrExist", err)
	}
	_, err = r2.Stop()
	must(t, err)
}

func TestIDs(t *testing.T) {
	bad := []ID{
		{"", "AP", "S"},
		{"AC", "AP/x", "S"},
		{"AC", "AP", ".."},
		{"AC", "AP", ".hidden"},
		{"AC", "AP\\x", "S"},
		{"AC\x00", "AP", "S"},
		{"AC", "AP", "S\n"},
		{"AC", "AP", strings.Repeat("s", 201)},
	}
	d, err := OpenDir(DirConfig{Path: t.TempDir()})
	must(t, err)
	for _, id := range bad {
		if err := id.Validate(); !errors.Is(err, ErrBadID) {
			t.Errorf("Validate(%q): %v, want ErrBadID", id, err)
		}
		if _, err := d.Create(id, Config{}); !errors.Is(err, ErrBadID) {
			t.Errorf("Create(%q): %v, want ErrBadID", id, err)
		}
	}
	for _, tc := range []struct {
		key string
		id  ID
		f   Format
	}{
		{"AC1/AP1/S1.wav", ID{"AC1", "AP1", "S1"}, WAV},
		{"AC1/AP1/S1.mp3", ID{"AC1", "AP1", "S1"}, MP3},
		{"a b/c-d/e.f.wav", ID{"a b", "c-d", "e.f"}, WAV},
	} {
		id, f, err := ParseKey(tc.key)
		if err != nil || id != tc.id || f != tc.f || id.Key(f) != tc.key {
			t.Errorf("ParseKey(%q) = %+v, %v, %v", tc.key, id, f, err)
		}
	}
	for _, k := range []string{"", "a/b", "a/b/c", "a/b/c.ogg", "a/b/c/d.wav", "a//c.wav", "a/b/.wav", "../b/c.wav"} {
		if _, _, err := ParseKey(k); !errors.Is(err, ErrBadID) {
			t.Errorf("ParseKey(%q): %v, want ErrBadID", k, err)
		}
	}
}

// FuzzParseKey: what parses is a valid ID and formats back to the key.
func FuzzParseKey(f *testing.F) {
	for _, k := range []string{"AC1/AP1/S1.wav", "a/b/c.mp3", "a/b/c.WAV", "a/b/.wav", "x/y/z.tar.mp3", "a/b/c"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		id, format, err := ParseKey(key)
		if err != nil {
			return
		}
		if err := id.Validate(); err != nil {
			t.Fatalf("ParseKey(%q) gave an invalid ID: %v", key, err)
		}
		if got := id.Key(format); !strings.EqualFold(got, key) {
			t.Fatalf("ParseKey(%q) = %+v %v, which formats as %q", key, id, format, got)
		}
		id2, f2, err := ParseKey(id.Key(format))
		if err != nil || id2 != id || f2 != format {
			t.Fatalf("round trip of %q: %+v %v %v", key, id2, f2, err)
		}
	})
}

func TestFormatText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Format
	}{{"wav", WAV}, {"WAV", WAV}, {".mp3", MP3}, {"Mp3", MP3}} {
		var f Format
		if err := f.UnmarshalText([]byte(tc.in)); err != nil || f != tc.want {
			t.Errorf("UnmarshalText(%q) = %v, %v", tc.in, f, err)
		}
		b, err := f.MarshalText()
		if err != nil || string(b) != tc.want.String() {
			t.Errorf("MarshalText = %q, %v", b, err)
		}
	}
	if _, err := ParseFormat("ogg"); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), `"ogg"`) {
		t.Errorf("ParseFormat(ogg): %v", err)
	}
	if _, err := Format(9).MarshalText(); err == nil {
		t.Error("MarshalText of an unknown format succeeded")
	}
	for v, want := range map[interface{ String() string }]string{
		WAV: "wav", MP3: "mp3", LayoutAuto: "auto", LayoutMono: "mono", LayoutStereo: "stereo",
		ChannelLeft: "left", ChannelRight: "right", ChannelBoth: "both", ChannelAuto: "auto",
		PauseSilence: "silence", PauseCut: "cut", Format(9): "Format(9)",
	} {
		if v.String() != want {
			t.Errorf("%#v.String() = %q, want %q", v, v.String(), want)
		}
	}
}
