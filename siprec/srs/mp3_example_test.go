package srs_test

import (
	"errors"
	"fmt"

	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/tenancy"
)

// A gateway that declares an account recording MP3 fails its start when
// LAME cannot be loaded (here: a library path that does not exist),
// naming the account; without such an account it starts, and New records
// MP3 accounts made later as WAV.
func ExampleOpenLAME() {
	accounts := []*tenancy.Account{
		{Name: "acme", Recording: tenancy.RecordingConfig{Enabled: true, Format: tenancy.FormatWAV}},
		{Name: "globex", Recording: tenancy.RecordingConfig{Enabled: true, Format: tenancy.FormatMP3}},
	}
	_, err := srs.OpenLAME("/nonexistent/libmp3lame.so.0", accounts)
	var mp3 *srs.MP3UnavailableError
	if errors.As(err, &mp3) {
		fmt.Printf("accounts[%d] (%s) records MP3 and LAME is missing\n", mp3.Index, mp3.Account)
	}
	lame, err := srs.OpenLAME("/nonexistent/libmp3lame.so.0", accounts[:1])
	fmt.Println(lame == nil, err)
	// Output:
	// accounts[1] (globex) records MP3 and LAME is missing
	// true <nil>
}
