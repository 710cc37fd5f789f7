package sip_test

import (
	"log/slog"
	"os"

	"github.com/voicegw/voicegw/sip"
)

// A program's logger for sipgo's package-level lines
// (sipgosip.SetDefaultLogger): warnings and above, sipgo's errors about a
// peer written as warnings, its shutdown noise dropped as debug.
func ExampleDemoteSipgo() {
	text := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelWarn,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}})
	log := sip.FilterLogger(slog.New(text), sip.LogFilterConfig{Demote: sip.DemoteSipgo})
	log.Error("TCP ref went negative", "ref", -1)
	log.Error("failed to parse", "error", "bad start line")
	// Output: level=WARN msg="failed to parse" error="bad start line"
}
