package siprec

import (
	"log/slog"
	"os"
	"testing"

	sipgosip "github.com/emiago/sipgo/sip"
)

func TestMain(m *testing.M) {
	// sipgo logs some connection bookkeeping through its package default
	// logger; keep test output readable (test code only: the library never
	// touches sipgo's globals).
	sipgosip.SetDefaultLogger(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}
