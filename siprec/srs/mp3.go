package srs

import (
	"fmt"

	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/tenancy"
)

// MP3UnavailableError is OpenLAME's error when LAME cannot be loaded and
// one of the accounts it was given records MP3. It matches
// recording.ErrMP3Unavailable.
type MP3UnavailableError struct {
	// Index is the account's position in the accounts given to OpenLAME;
	// Account is its name.
	Index   int
	Account string
	// Err is recording.OpenLAME's error, which says what to install.
	Err error
}

func (e *MP3UnavailableError) Error() string {
	return fmt.Sprintf("srs: account %q records MP3: %v", e.Account, e.Err)
}

func (e *MP3UnavailableError) Unwrap() error { return e.Err }

// OpenLAME loads LAME from path (recording.OpenLAME; "" finds
// libmp3lame.so.0) for Config.Recording.LAME, for a program whose start
// must fail when the accounts it declares need MP3 and cannot have it:
// when LAME cannot be loaded, an account of accounts that records MP3
// (Recording.Enabled, FormatMP3) gets a *MP3UnavailableError naming the
// first such; none gets nil, nil — New then tries again and, failing,
// records the MP3 accounts made later (through an admin API) as WAV,
// with a warning. The LAME has recording's default encoder pool
// (recording.LAMEConfig: GOMAXPROCS goroutines run the MP3 encoding off
// the media workers).
func OpenLAME(path string, accounts []*tenancy.Account) (*recording.LAME, error) {
	lame, err := recording.OpenLAME(path)
	if err == nil {
		return lame, nil
	}
	for i, a := range accounts {
		if a.Recording.Enabled && a.Recording.Format == tenancy.FormatMP3 {
			return nil, &MP3UnavailableError{Index: i, Account: a.Name, Err: err}
		}
	}
	return nil, nil
}
