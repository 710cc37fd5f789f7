//go:build !((linux || darwin) && (amd64 || arm64) && !android && !ios)

package recording

import (
	"fmt"
	"runtime"
)

// LAME is LAME's MP3 encoder library. On this platform it cannot be loaded
// without cgo, so OpenLAME always fails with ErrMP3Unavailable; WAV works.
type LAME struct {
	pool *encoderPool
}

// OpenLAME reports that MP3 encoding is not available on this platform.
func OpenLAME(path string) (*LAME, error) {
	return OpenLAMEConfig(LAMEConfig{Path: path})
}

// OpenLAMEConfig reports that MP3 encoding is not available on this
// platform.
func OpenLAMEConfig(c LAMEConfig) (*LAME, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: loading LAME at run time is not supported on %s/%s", ErrMP3Unavailable, runtime.GOOS, runtime.GOARCH)
}

// Path returns "".
func (l *LAME) Path() string { return "" }

// Version returns "".
func (l *LAME) Version() string { return "" }

type lameEncoder struct{}

type lameParams struct {
	rate, channels, kbps, quality, lowpass, maxFrames int
	joint, noShort, noReservoir                       bool
	extra                                             []lameSet
}

type lameSet struct {
	Name  string
	Value int
}

func (l *LAME) newEncoder(p lameParams) (*lameEncoder, error) {
	return nil, ErrMP3Unavailable
}

func (e *lameEncoder) encode(pcm []int16) ([]byte, error) { return nil, ErrMP3Unavailable }
func (e *lameEncoder) flush() ([]byte, error)             { return nil, ErrMP3Unavailable }
func (e *lameEncoder) lametag() []byte                    { return nil }
func (e *lameEncoder) delay() int                         { return 0 }
func (e *lameEncoder) close()                             {}
