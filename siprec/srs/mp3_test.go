package srs

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/internal/testenv"
	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/tenancy"
)

// TestOpenLAME: without the library an account recording MP3 fails the
// open, naming the account and its position and matching
// recording.ErrMP3Unavailable; accounts recording WAV, or MP3 with
// recording off, need nothing. With the library (libmp3lame0) it loads.
func TestOpenLAME(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "libmp3lame.so.0")
	wav := &tenancy.Account{Name: "wav", Recording: tenancy.RecordingConfig{Enabled: true, Format: tenancy.FormatWAV}}
	off := &tenancy.Account{Name: "off", Recording: tenancy.RecordingConfig{Format: tenancy.FormatMP3}}
	mp3 := &tenancy.Account{Name: "mp3", Recording: tenancy.RecordingConfig{Enabled: true, Format: tenancy.FormatMP3}}

	if lame, err := OpenLAME(missing, []*tenancy.Account{wav, off}); lame != nil || err != nil {
		t.Fatalf("no account needs MP3: %v, %v; want nil, nil", lame, err)
	}
	_, err := OpenLAME(missing, []*tenancy.Account{wav, off, mp3})
	var me *MP3UnavailableError
	if !errors.As(err, &me) || me.Index != 2 || me.Account != "mp3" || !errors.Is(err, recording.ErrMP3Unavailable) ||
		!strings.Contains(err.Error(), `"mp3"`) {
		t.Fatalf("an MP3 account without LAME: %v (%+v), want MP3UnavailableError for accounts[2] mp3", err, me)
	}

	if _, err := recording.OpenLAME(""); err != nil {
		testenv.Missing(t, "LAME", "apt-get install -y libmp3lame0")
	}
	if lame, err := OpenLAME("", []*tenancy.Account{mp3}); lame == nil || err != nil {
		t.Fatalf("with LAME installed: %v, %v", lame, err)
	}
}
