package recording

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-audio/wav"
)

// TestWAVChecked records a two-party call with a late start, a loss and a
// pause, and checks the file with go-audio/wav and with sox: duration to
// the millisecond, channels, tones in the right channel at the right time,
// silence where packets were lost and where the call was paused.
func TestWAVChecked(t *testing.T) {
	const pkt = 160
	r, path := newTestRecorder(t, Config{Streams: twoStreams()})
	a := feeder{t, r.Stream(0), rate8k, 1000, 12000}
	b := feeder{t, r.Stream(1), rate8k, 600, 12000}
	must(t, a.s.Start(t0))
	// The callee starts 0.5 s into the call; the caller loses 0.5 s at 1.5 s
	// (packets 75..99); the call is paused from 2.5 s to 3.0 s; the caller's
	// last packet is cut short so the call lasts 3.217 s.
	for k := int64(0); k < 161; k++ {
		if k == 25 {
			must(t, b.s.Start(t0.Add(500*time.Millisecond)))
		}
		if k == 125 {
			must(t, r.Pause(t0.Add(2500*time.Millisecond)))
		}
		if k == 150 {
			must(t, r.Resume(t0.Add(3*time.Second)))
		}
		if k < 75 || k >= 100 {
			n := pkt
			if k == 160 {
				n = 136 // 3.2 s + 17 ms
			}
			a.send(k*pkt, n)
		}
		if k >= 25 && k < 160 {
			b.send((k-25)*pkt, pkt)
		}
	}
	res, err := r.Stop()
	must(t, err)
	const want = 3217 * time.Millisecond
	if res.Duration != want || res.Channels != 2 || res.SampleRate != 8000 || res.Format != WAV {
		t.Fatalf("Result = %+v; want 3.217s stereo 8 kHz WAV", res)
	}
	if st, _ := os.Stat(path); st.Size() != res.Size || res.Size != 44+3217*8*4 {
		t.Errorf("Result.Size = %d, file %d bytes, want %d", res.Size, st.Size(), 44+3217*8*4)
	}

	// go-audio/wav
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	d := wav.NewDecoder(f)
	// go-audio/wav's Duration() counts the whole RIFF chunk (header
	// included), so compute it from the data chunk it finds.
	must(t, d.FwdToPCM())
	dur := time.Duration(d.PCMLen()) * time.Second / time.Duration(int(d.SampleRate)*int(d.NumChans)*2)
	if dur != want {
		t.Errorf("go-audio/wav: data chunk of %d bytes = %v, want %v", d.PCMLen(), dur, want)
	}
	w := readWAV(t, path)
	if w.rate != 8000 || w.channels != 2 {
		t.Fatalf("go-audio/wav: %d Hz %d channels", w.rate, w.channels)
	}
	checks := []struct {
		what     string
		ch       int
		from, to float64
		freq     float64
		on       bool
	}{
		{"caller talks", 0, 0.0, 1.5, 1000, true},
		{"callee not yet started", 1, 0.0, 0.5, 600, false},
		{"callee talks", 1, 0.5, 2.5, 600, true},
		{"caller's lost packets", 0, 1.5, 2.0, 1000, false},
		{"caller after the loss", 0, 2.0, 2.5, 1000, true},
		{"paused, caller", 0, 2.5, 3.0, 1000, false},
		{"paused, callee", 1, 2.5, 3.0, 600, false},
		{"resumed, caller", 0, 3.0, 3.217, 1000, true},
		{"resumed, callee", 1, 3.0, 3.2, 600, true},
		{"callee ended before the caller", 1, 3.2, 3.217, 600, false},
	}
	for _, c := range checks {
		x := window(w.ch[c.ch], rate8k, c.from, c.to)
		l, other := level(x, rate8k, c.freq), level(window(w.ch[1-c.ch], rate8k, c.from, c.to), rate8k, c.freq)
		if c.on && (l < 11000 || other > 1) {
			t.Errorf("%s: %.0f Hz level %.0f in channel %d (want ~12000), %.0f in the other (want 0)", c.what, c.freq, l, c.ch, other)
		}
		if !c.on && peak(x) != 0 {
			t.Errorf("%s: peak %d in channel %d, want silence", c.what, peak(x), c.ch)
		}
	}
	// The tone boundaries to the sample: the callee's first sample at 0.5 s.
	if w.ch[1][3999] != 0 || w.ch[1][4000] != 0 || w.ch[1][4001] == 0 {
		t.Errorf("callee onset: samples %d %d %d around 0.5 s", w.ch[1][3999], w.ch[1][4000], w.ch[1][4001])
	}

	// sox
	rate, ch, samples := soxInfo(t, path)
	if rate != 8000 || ch != 2 || samples != 25736 {
		t.Errorf("sox --i: %d Hz, %d channels, %d samples; want 8000, 2, 25736 (3.217 s)", rate, ch, samples)
	}
	out, err := exec.Command(requireSox(t), "--i", "-D", path).CombinedOutput()
	must(t, err)
	if strings.TrimSpace(string(out)) != "3.217000" {
		t.Errorf("sox --i -D = %q, want 3.217000", out)
	}
	for _, c := range checks {
		rms, maxAmp, freq := soxStat(t, path, c.ch+1, c.from, c.to-c.from)
		if c.on && (rms < 0.2 || abs(freq-int(c.freq)) > 40) {
			t.Errorf("sox: %s: RMS %.3f at %d Hz in channel %d, want the %.0f Hz tone", c.what, rms, freq, c.ch+1, c.freq)
		}
		if !c.on && maxAmp != 0 {
			t.Errorf("sox: %s: max amplitude %v in channel %d, want silence", c.what, maxAmp, c.ch+1)
		}
	}
}

// TestWAVPlayableWhileRecording: the file on disk is a valid WAV during the
// call, declaring the audio up to the last flush interval.
func TestWAVPlayableWhileRecording(t *testing.T) {
	r, path := newTestRecorder(t, Config{FlushInterval: 200 * time.Millisecond})
	a := feeder{t, r.Stream(0), rate8k, 1000, 8000}
	must(t, a.s.StartAt(0))
	for k := int64(0); k < 60; k++ { // 1.2 s
		a.send(k*160, 160)
	}
	// Mid-call: both readers accept the file and see 1.2 s (the last
	// flush was at 1.2 s).
	w := readWAV(t, path)
	if w.frames() != 9600 {
		t.Errorf("mid-call, go-audio/wav reads %d frames, want 9600", w.frames())
	}
	if _, _, n := soxInfo(t, path); n != 9600 {
		t.Errorf("mid-call, sox reads %d samples, want 9600", n)
	}
	a.send(60*160, 160) // 1.22 s: not flushed yet
	if w := readWAV(t, path); w.frames() != 9600 {
		t.Errorf("before the next flush, go-audio/wav reads %d frames, want 9600", w.frames())
	}
	must(t, r.Flush())
	if w := readWAV(t, path); w.frames() != 9760 {
		t.Errorf("after Flush, go-audio/wav reads %d frames, want 9760", w.frames())
	}
	_, err := r.Stop()
	must(t, err)
}

func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cut.wav")
	must(t, os.WriteFile(p, b, 0o600))
	return p
}

func wavBytes(channels, rate int, declared uint32, data []byte) []byte {
	h := make([]byte, wavHeaderSize)
	putWAVHeader(h, channels, rate, declared)
	return append(h, data...)
}

// TestRepairWAV: each way a crash can leave a WAV, repaired.
func TestRepairWAV(t *testing.T) {
	data := bytes.Repeat([]byte{1, 0, 2, 0}, 1000) // 1000 stereo frames
	listChunk := append([]byte("LIST\x04\x00\x00\x00INFO"), []byte{}...)
	foreign := func(declared uint32, d []byte) []byte { // fmt, LIST, data (as other tools write)
		b := wavBytes(2, 8000, declared, nil)[:36]
		b = append(b, listChunk...)
		b = append(b, "data"...)
		b = binary.LittleEndian.AppendUint32(b, declared)
		b = append(b, d...)
		binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
		return b
	}
	tests := []struct {
		name      string
		file      []byte
		changed   bool
		truncated int64
		frames    int64
	}{
		{"crash before the first flush: header says no data", wavBytes(2, 8000, 0, data), true, 0, 1000},
		{"crash between data and header writes", wavBytes(2, 8000, 2000, data), true, 0, 1000},
		{"partial frame at the end", wavBytes(2, 8000, 0, append(data, 9, 9, 9)), true, 3, 1000},
		{"header declares more than the file holds", wavBytes(2, 8000, 8000, data), true, 0, 1000},
		{"intact file is left alone", wavBytes(2, 8000, 4000, data), false, 0, 1000},
		{"mono", wavBytes(1, 8000, 0, append(data, 7)), true, 1, 2000},
		{"empty", wavBytes(2, 8000, 0, nil), false, 0, 0},
		{"other chunks before data", foreign(0, data), true, 0, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, tc.file)
			before, _ := os.ReadFile(p)
			res, err := Repair(p)
			must(t, err)
			if res.Changed != tc.changed || res.Truncated != tc.truncated || res.Info.Frames != tc.frames || res.Format != WAV {
				t.Fatalf("Repair = %+v; want changed %v, truncated %d, %d frames", res, tc.changed, tc.truncated, tc.frames)
			}
			after, _ := os.ReadFile(p)
			if !tc.changed && !bytes.Equal(before, after) {
				t.Fatal("Repair changed a file it said it left alone")
			}
			w := readWAV(t, p)
			if int64(w.frames()) != tc.frames {
				t.Errorf("go-audio/wav reads %d frames after repair, want %d", w.frames(), tc.frames)
			}
			if _, _, n := soxInfo(t, p); n != tc.frames {
				t.Errorf("sox reads %d frames after repair, want %d", n, tc.frames)
			}
			info, err := Inspect(p)
			must(t, err)
			if info != res.Info {
				t.Errorf("Inspect = %+v, Repair said %+v", info, res.Info)
			}
			// A second repair finds nothing to do.
			if res2, err := Repair(p); err != nil || res2.Changed {
				t.Errorf("second Repair: %+v, %v", res2, err)
			}
		})
	}
}

func TestRepairRefuses(t *testing.T) {
	tests := []struct {
		name string
		file []byte
	}{
		{"empty file", nil},
		{"text", []byte("hello, world")},
		{"RIFF but not WAVE", []byte("RIFF\x00\x00\x00\x00AVI LIST")},
		{"8-bit PCM", func() []byte {
			b := wavBytes(1, 8000, 0, []byte{1, 2})
			b[34] = 8
			return b
		}()},
		{"float", func() []byte {
			b := wavBytes(1, 8000, 0, []byte{1, 2})
			b[20] = 3
			return b
		}()},
		{"data before fmt", []byte("RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00")},
		{"no data chunk", wavBytes(1, 8000, 0, nil)[:36]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, tc.file)
			if _, err := Repair(p); !errors.Is(err, ErrNotRecording) {
				t.Errorf("Repair: %v, want ErrNotRecording", err)
			}
			if _, err := Inspect(p); !errors.Is(err, ErrNotRecording) {
				t.Errorf("Inspect: %v, want ErrNotRecording", err)
			}
			after, _ := os.ReadFile(p)
			if !bytes.Equal(after, tc.file) {
				t.Error("a refused file was modified")
			}
		})
	}
	if _, err := Repair(filepath.Join(t.TempDir(), "missing.wav")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Repair of a missing file: %v", err)
	}
}

// TestInspectCutWAV: Inspect refuses a header that promises more than the
// file holds, and says to repair it.
func TestInspectCutWAV(t *testing.T) {
	p := writeFile(t, wavBytes(1, 8000, 4000, make([]byte, 100)))
	if _, err := Inspect(p); !errors.Is(err, ErrNotRecording) || !strings.Contains(err.Error(), "Repair") {
		t.Fatalf("Inspect: %v", err)
	}
}

// TestWriteFailureIsSticky: a full disk fails the recording with ErrWrite,
// Failed is closed, every later call says so, and Stop still closes the
// file. The disk is /dev/full (writes fail with ENOSPC in the kernel)
// swapped in for the file's descriptor, since New creates its file;
// TestWriteFailureFileSizeLimit fails the recording's own file.
func TestWriteFailureIsSticky(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full on this system")
	}
	r, _ := newTestRecorder(t, Config{})
	ws := r.out.files[0].sink.(*wavSink)
	good := ws.out.f
	ws.out.f = full // the disk is full from now on
	s := r.Stream(0)
	must(t, s.StartAt(0))
	var werr error
	for k := int64(0); k < 200 && werr == nil; k++ {
		werr = s.Write(k*160, tone(1000, 1000, rate8k, k*160, 160))
	}
	if !errors.Is(werr, ErrWrite) || !strings.Contains(werr.Error(), "no space") {
		t.Fatalf("Write on a full disk: %v, want ErrWrite (no space left)", werr)
	}
	select {
	case <-r.Failed():
	default:
		t.Fatal("Failed() not closed after the write failure")
	}
	if err := r.Err(); err != werr {
		t.Errorf("Err() = %v, want the failure %v", err, werr)
	}
	if err := s.Write(1<<20, make([]int16, 160)); !errors.Is(err, ErrWrite) {
		t.Errorf("next Write: %v, want ErrWrite again", err)
	}
	if err := r.Flush(); !errors.Is(err, ErrWrite) {
		t.Errorf("Flush: %v, want ErrWrite", err)
	}
	_, err = r.Stop()
	if !errors.Is(err, ErrWrite) {
		t.Errorf("Stop: %v, want ErrWrite", err)
	}
	_ = good.Close()
}

// TestWAVTooLarge: a WAV never grows past what its 32-bit sizes describe.
func TestWAVTooLarge(t *testing.T) {
	r, path := newTestRecorder(t, Config{})
	ws := r.out.files[0].sink.(*wavSink)
	ws.data = maxWAVData - 100 // as if 37 hours were written
	s := r.Stream(0)
	must(t, s.StartAt(0))
	err := s.Write(0, make([]int16, 160))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Write past 4 GiB: %v, want ErrTooLarge", err)
	}
	if err := s.Write(160, make([]int16, 160)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("next Write: %v, want ErrTooLarge", err)
	}
	_, _ = r.Stop()
	if _, err := Inspect(path); err != nil {
		t.Errorf("the file is not valid after ErrTooLarge: %v", err)
	}
}

// FuzzWAVHeader: parsing never panics; what parses as our canonical header
// marshals back to the same bytes; every header we write parses to what we
// wrote.
func FuzzWAVHeader(f *testing.F) {
	for _, c := range []struct {
		ch, rate int
		size     uint32
	}{{1, 8000, 0}, {2, 8000, 352000}, {2, 16000, 4}, {1, 48000, maxWAVData}} {
		h := make([]byte, wavHeaderSize)
		putWAVHeader(h, c.ch, c.rate, c.size)
		f.Add(h)
	}
	ext := make([]byte, wavHeaderSize)
	putWAVHeader(ext, 2, 8000, 0)
	f.Add(append(append([]byte{}, ext[:36]...), "LIST\x04\x00\x00\x00INFOdata\x00\x00\x00\x00"...))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEfmt \x28\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		wf, err := parseWAVHeader(b)
		if err != nil {
			return
		}
		if wf.Channels < 1 || wf.SampleRate < 1 || wf.DataOffset > int64(len(b)) {
			t.Fatalf("parsed nonsense %+v", wf)
		}
		// Round trip through the canonical form.
		h := make([]byte, wavHeaderSize)
		putWAVHeader(h, wf.Channels, wf.SampleRate, uint32(wf.DataSize))
		wf2, err := parseWAVHeader(h)
		if err != nil {
			t.Fatalf("our own header of %+v does not parse: %v", wf, err)
		}
		if wf2.Channels != wf.Channels || wf2.SampleRate != wf.SampleRate || wf2.DataSize != wf.DataSize || wf2.DataOffset != wavHeaderSize {
			t.Fatalf("round trip: %+v became %+v", wf, wf2)
		}
		if wf.DataOffset == wavHeaderSize && len(b) >= wavHeaderSize && bytes.Equal(b[12:36], h[12:36]) && !bytes.Equal(b[36:44], h[36:44]) {
			t.Fatalf("canonical header %x marshals as %x", b[:44], h)
		}
	})
}
