//go:build (linux || darwin) && (amd64 || arm64) && !android && !ios

package recording

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// LAME is LAME's MP3 encoder library (libmp3lame.so.0, Debian package
// libmp3lame0), loaded at run time with purego: no cgo, so the package
// builds with CGO_ENABLED=0 and only MP3 needs the library, when used.
//
// Open it once with OpenLAME and share the value between recordings
// (Config.LAME); it is safe for concurrent use. Every recording gets its
// own encoder handle. The library stays loaded until the process exits.
//
// A LAME also holds the encoder pool of its recordings (LAMEConfig): up
// to GOMAXPROCS goroutines by default that run LAME and the file writes
// for them, started when audio waits and ending when idle, so there is
// nothing to close (see MP3Config.Inline).
type LAME struct {
	pool    *encoderPool
	path    string
	version string
	// initMu serializes lame_init and lame_init_params: they fill tables
	// shared by every handle of the process. Encoding runs concurrently.
	initMu sync.Mutex
	fn     lameFuncs
	lib    uintptr // the dlopen handle, for the setters only benchmarks ask for (lameParams.extra)
}

type lameFuncs struct {
	init, close, initParams                         uintptr
	setInRate, setOutRate, setChannels, setMode     uintptr
	setBrate, setQuality, setVBR, setVbrTag, setID3 uintptr
	setLowpass                                      uintptr
	// Optional (0 when the library lacks them): used only when a setting
	// asks for them.
	setNoShort, setNoReservoir                uintptr
	encode, encodeInterleaved, flush, lametag uintptr
	delay, padding                            uintptr
}

// lameLibraryNames are tried in order when OpenLAME is given no path.
func lameLibraryNames() []string {
	if runtime.GOOS == "darwin" {
		return []string{"libmp3lame.0.dylib", "/opt/homebrew/lib/libmp3lame.0.dylib", "/usr/local/lib/libmp3lame.0.dylib"}
	}
	return []string{"libmp3lame.so.0"}
}

// OpenLAME loads LAME's shared library from path, or when path is empty by
// its usual name (libmp3lame.so.0 on Linux, found by the dynamic linker).
// When the library cannot be loaded or lacks a function this package calls,
// the error wraps ErrMP3Unavailable and says what to install.
func OpenLAME(path string) (*LAME, error) {
	return OpenLAMEConfig(LAMEConfig{Path: path})
}

// OpenLAMEConfig loads LAME as OpenLAME does from c.Path, with the
// encoder pool c describes.
func OpenLAMEConfig(c LAMEConfig) (*LAME, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	path := c.Path
	names := []string{path}
	if path == "" {
		names = lameLibraryNames()
	}
	var (
		h    uintptr
		err  error
		used string
	)
	for _, name := range names {
		h, err = purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_LOCAL)
		if err == nil {
			used = name
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: loading %q: %v", ErrMP3Unavailable, names[len(names)-1], err)
	}
	l := &LAME{path: used, lib: h, pool: newEncoderPool(c.Encoders, c.QueueBytes)}
	syms := []struct {
		p    *uintptr
		name string
	}{
		{&l.fn.init, "lame_init"}, {&l.fn.close, "lame_close"}, {&l.fn.initParams, "lame_init_params"},
		{&l.fn.setInRate, "lame_set_in_samplerate"}, {&l.fn.setOutRate, "lame_set_out_samplerate"},
		{&l.fn.setChannels, "lame_set_num_channels"}, {&l.fn.setMode, "lame_set_mode"},
		{&l.fn.setBrate, "lame_set_brate"}, {&l.fn.setQuality, "lame_set_quality"},
		{&l.fn.setVBR, "lame_set_VBR"}, {&l.fn.setVbrTag, "lame_set_bWriteVbrTag"},
		{&l.fn.setID3, "lame_set_write_id3tag_automatic"}, {&l.fn.setLowpass, "lame_set_lowpassfreq"},
		{&l.fn.encode, "lame_encode_buffer"}, {&l.fn.encodeInterleaved, "lame_encode_buffer_interleaved"},
		{&l.fn.flush, "lame_encode_flush"}, {&l.fn.lametag, "lame_get_lametag_frame"},
		{&l.fn.delay, "lame_get_encoder_delay"}, {&l.fn.padding, "lame_get_encoder_padding"},
	}
	for _, s := range syms {
		p, err := purego.Dlsym(h, s.name)
		if err != nil || p == 0 {
			_ = purego.Dlclose(h)
			return nil, fmt.Errorf("%w: %q has no function %s: %v", ErrMP3Unavailable, used, s.name, err)
		}
		*s.p = p
	}
	// Optional setters: a library without them still encodes the defaults.
	if p, err := purego.Dlsym(h, "lame_set_no_short_blocks"); err == nil {
		l.fn.setNoShort = p
	}
	if p, err := purego.Dlsym(h, "lame_set_disable_reservoir"); err == nil {
		l.fn.setNoReservoir = p
	}
	var version func() string
	if _, err := purego.Dlsym(h, "get_lame_version"); err == nil {
		purego.RegisterLibFunc(&version, h, "get_lame_version")
		l.version = version()
	}
	return l, nil
}

// Path returns the library name or path that was loaded.
func (l *LAME) Path() string { return l.path }

// Version returns LAME's version string, for example "3.100".
func (l *LAME) Version() string { return l.version }

// LAME's MPEG_mode values.
const (
	lameStereo      = 0
	lameJointStereo = 1
	lameMono        = 3
)

// lameEncoder is one LAME handle: one per recording, used by one goroutine
// at a time (the recorder's lock).
type lameEncoder struct {
	l        *LAME
	gfp      uintptr
	channels int
	mp3      []byte // output of the last call
	// args holds the arguments of a call: a variadic argument list built
	// at the call would escape to the heap (purego.SyscallN keeps it), one
	// allocation per packet; this one is allocated once with the encoder.
	args *[6]uintptr
}

// lameParams are the settings of one encoder handle.
type lameParams struct {
	rate, channels int
	kbps           int  // constant bitrate
	quality        int  // lame_set_quality: 0 best .. 9 fastest
	lowpass        int  // Hz; 0: LAME's default for the bitrate
	maxFrames      int  // frames per encode call, at most
	joint          bool // joint stereo (mid/side) instead of stereo
	noShort        bool // long blocks only (lame --noshort)
	noReservoir    bool // no bit reservoir (lame --nores)
	// extra are further lame_set_NAME(gfp, value) calls, made after the
	// others: only the benchmarks that measure LAME's settings use them.
	extra []lameSet
}

// lameSet is one lame_set_NAME(gfp, Value) call.
type lameSet struct {
	Name  string // NAME in lame_set_NAME, for example "ATHonly"
	Value int
}

// newEncoder creates a LAME handle for interleaved PCM16 with the given
// parameters. The stream starts with a placeholder for the LAME/Info tag
// (see lametag).
func (l *LAME) newEncoder(p lameParams) (*lameEncoder, error) {
	l.initMu.Lock()
	defer l.initMu.Unlock()
	gfp, _, _ := purego.SyscallN(l.fn.init)
	if gfp == 0 {
		return nil, fmt.Errorf("%w: lame_init failed (out of memory?)", ErrMP3Unavailable)
	}
	mode := lameStereo
	switch {
	case p.channels == 1:
		mode = lameMono
	case p.joint:
		mode = lameJointStereo
	}
	set := func(fn uintptr, v int) { purego.SyscallN(fn, gfp, uintptr(v)) }
	set(l.fn.setInRate, p.rate)
	set(l.fn.setOutRate, p.rate)
	set(l.fn.setChannels, p.channels)
	set(l.fn.setMode, mode)
	set(l.fn.setVBR, 0) // vbr_off: constant bit rate (VBR measured slower and no better on speech)
	set(l.fn.setBrate, p.kbps)
	set(l.fn.setQuality, p.quality)
	set(l.fn.setVbrTag, 1) // Info tag: exact length and gapless playback
	set(l.fn.setID3, 0)    // no ID3 tags: the first frame is at offset 0
	if p.lowpass > 0 {
		set(l.fn.setLowpass, p.lowpass)
	}
	// Without these setters (a LAME older than 3.93) the file is the same
	// format, only dearer to encode.
	if p.noShort && l.fn.setNoShort != 0 {
		set(l.fn.setNoShort, 1)
	}
	if p.noReservoir && l.fn.setNoReservoir != 0 {
		set(l.fn.setNoReservoir, 1)
	}
	for _, x := range p.extra {
		fn, err := purego.Dlsym(l.lib, "lame_set_"+x.Name)
		if err != nil || fn == 0 {
			purego.SyscallN(l.fn.close, gfp)
			return nil, fmt.Errorf("%w: %q has no function lame_set_%s", ErrBadConfig, l.path, x.Name)
		}
		if rc, _, _ := purego.SyscallN(fn, gfp, uintptr(x.Value)); int32(rc) < 0 {
			purego.SyscallN(l.fn.close, gfp)
			return nil, fmt.Errorf("%w: lame_set_%s(%d) refused (code %d)", ErrBadConfig, x.Name, x.Value, int32(rc))
		}
	}
	if rc, _, _ := purego.SyscallN(l.fn.initParams, gfp); int32(rc) < 0 {
		purego.SyscallN(l.fn.close, gfp)
		return nil, fmt.Errorf("%w: lame_init_params refused %d Hz, %d channels, %d kbps, quality %d (code %d)",
			ErrBadConfig, p.rate, p.channels, p.kbps, p.quality, int32(rc))
	}
	// LAME's worst case for n samples is 1.25n + 7200 bytes.
	return &lameEncoder{l: l, gfp: gfp, channels: p.channels, mp3: make([]byte, p.maxFrames*5/4+7200), args: new([6]uintptr)}, nil
}

// encode encodes the interleaved frames of pcm and returns the MP3 bytes
// produced, valid until the next call.
func (e *lameEncoder) encode(pcm []int16) ([]byte, error) {
	frames := len(pcm) / e.channels
	if frames == 0 {
		return nil, nil
	}
	p := uintptr(unsafe.Pointer(&pcm[0]))
	out := uintptr(unsafe.Pointer(&e.mp3[0]))
	a := e.args
	var rc uintptr
	if e.channels == 2 {
		*a = [6]uintptr{e.gfp, p, uintptr(frames), out, uintptr(len(e.mp3))}
		rc, _, _ = purego.SyscallN(e.l.fn.encodeInterleaved, a[:5]...)
	} else {
		*a = [6]uintptr{e.gfp, p, p, uintptr(frames), out, uintptr(len(e.mp3))}
		rc, _, _ = purego.SyscallN(e.l.fn.encode, a[:6]...)
	}
	runtime.KeepAlive(pcm)
	runtime.KeepAlive(e.mp3)
	n := int(int32(rc))
	if n < 0 || n > len(e.mp3) {
		return nil, fmt.Errorf("%w: lame_encode_buffer returned %d", ErrWrite, n)
	}
	return e.mp3[:n], nil
}

// flush ends the stream: it encodes what LAME still buffers, padded to a
// whole frame.
func (e *lameEncoder) flush() ([]byte, error) {
	a := e.args
	*a = [6]uintptr{e.gfp, uintptr(unsafe.Pointer(&e.mp3[0])), uintptr(len(e.mp3))}
	rc, _, _ := purego.SyscallN(e.l.fn.flush, a[:3]...)
	runtime.KeepAlive(e.mp3)
	n := int(int32(rc))
	if n < 0 || n > len(e.mp3) {
		return nil, fmt.Errorf("%w: lame_encode_flush returned %d", ErrWrite, n)
	}
	return e.mp3[:n], nil
}

// lametag returns the final LAME/Info tag frame (after flush), which
// replaces the placeholder at the start of the file.
func (e *lameEncoder) lametag() []byte {
	a := e.args
	*a = [6]uintptr{e.gfp, uintptr(unsafe.Pointer(&e.mp3[0])), uintptr(len(e.mp3))}
	rc, _, _ := purego.SyscallN(e.l.fn.lametag, a[:3]...)
	runtime.KeepAlive(e.mp3)
	if rc > uintptr(len(e.mp3)) {
		return nil
	}
	return e.mp3[:rc]
}

// close frees the handle.
func (e *lameEncoder) close() {
	if e.gfp != 0 {
		purego.SyscallN(e.l.fn.close, e.gfp)
		e.gfp = 0
	}
}
