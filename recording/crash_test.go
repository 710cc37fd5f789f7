package recording_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/testenv"
	. "github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/recording/spool"
	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/storage/storagetest"
)

const (
	crashDirEnv    = "RECORDING_CRASH_CHILD_DIR"
	crashFormatEnv = "RECORDING_CRASH_CHILD_FORMAT"
	crashSilentEnv = "RECORDING_CRASH_CHILD_SILENT"
	crashFlush     = 500 * time.Millisecond
	crashPackets   = 371 // 7.42 s of call
)

var crashID = ID{Account: "AC9", Application: "AP9", Session: "killed"}

// TestCrashChild is the recording process of TestCrash: it records a
// two-party call, says how much it fed, and waits for the call to go on
// until it is killed. It does nothing in a normal test run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process of TestCrash")
	}
	format, err := ParseFormat(os.Getenv(crashFormatEnv))
	Must(t, err)
	d, err := OpenDir(DirConfig{Path: dir})
	Must(t, err)
	r, err := d.Create(crashID, Config{Format: format, Streams: TwoStreams(), FlushInterval: crashFlush, Start: T0})
	Must(t, err)
	a := NewFeeder(t, r.Stream(0), 1000, 10000)
	b := NewFeeder(t, r.Stream(1), 600, 10000)
	Must(t, a.Stream().StartAt(0))
	Must(t, b.Stream().StartAt(0))
	silent := os.Getenv(crashSilentEnv) != "" // the callee sends nothing (silence suppression)
	for k := int64(0); k < crashPackets; k++ {
		a.Send(k*160, 160)
		if !silent {
			b.Send(k*160, 160)
		}
	}
	fmt.Printf("fed %d\n", crashPackets*160)
	time.Sleep(time.Minute) // the call goes on; the parent kills us first
	t.Error("not killed")
}

// TestCrash kills a recording process with SIGKILL mid-call. The file it
// leaves is a valid WAV as it is (MP3: whole frames but the last), holds
// the audio fed up to the kill within one flush interval, and Dir.Recover
// in the next process repairs it and uploads it.
func TestCrash(t *testing.T) {
	testenv.Short(t, "starts child processes")
	for _, format := range []Format{WAV, MP3} {
		t.Run(format.String(), func(t *testing.T) {
			if format == MP3 {
				RequireLAME(t)
			}
			dir := filepath.Join(t.TempDir(), "rec")
			fed := recordAndKill(t, dir, format, false)
			part := filepath.Join(dir, "AC9", "AP9", "killed"+format.Ext()+".part")
			flushFrames := int(DurationToFrames(crashFlush, Rate8k))
			fedSec := float64(fed) / Rate8k
			if format == WAV {
				// Valid as it is, before any repair: the header declares the
				// audio up to the last flush.
				w := ReadWAV(t, part)
				t.Logf("fed %d frames; the killed process's file declares %d", fed, w.Frames())
				if w.Frames() < fed-flushFrames || w.Frames() > fed {
					t.Errorf("before repair, go-audio/wav reads %d frames; fed %d, flush interval %d", w.Frames(), fed, flushFrames)
				}
				if _, _, n := SoxInfo(t, part); int(n) != w.Frames() {
					t.Errorf("before repair, sox reads %d frames, go-audio/wav %d", n, w.Frames())
				}
			}

			// The next process: its spool uploads to S3 (the in-process
			// server of storagetest), and Recover hands it the repaired file.
			srv := storagetest.NewS3Server(t)
			srv.CreateBucket("recordings")
			bucket, err := storage.Open(t.Context(), srv.Config("recordings", nil), fastRetry)
			Must(t, err)
			defer bucket.Close()
			up := &spool.Uploader{Spool: startSpool(t, filepath.Join(filepath.Dir(dir), "spool"), storage.SpoolConfig{Bucket: bucket}).Spool}
			d, err := OpenDir(DirConfig{Path: dir, Uploader: up})
			Must(t, err)
			recs, err := d.Recover(t.Context())
			Must(t, err)
			if len(recs) != 1 || !recs[0].Uploaded || recs[0].Repair == nil {
				t.Fatalf("Recover: %+v", recs)
			}
			landed(t, up, crashID.Key(format))
			if n := srv.Writes("recordings", crashID.Key(format)); n != 1 {
				t.Errorf("the recovered recording was written %d times to S3, want 1", n)
			}
			obj := download(t, bucket, crashID.Key(format))
			if format == WAV {
				w := ReadWAV(t, obj)
				t.Logf("after repair: %d frames (%d bytes of a partial frame cut)", w.Frames(), recs[0].Repair.Truncated)
				if w.Frames() < fed-flushFrames || w.Frames() > fed {
					t.Fatalf("recovered WAV has %d frames; fed %d, flush interval %d", w.Frames(), fed, flushFrames)
				}
				m := NewModel(2, w.Frames())
				m.Put(0, 0, Tone(1000, 10000, Rate8k, 0, w.Frames()))
				m.Put(1, 0, Tone(600, 10000, Rate8k, 0, w.Frames()))
				m.Compare(t, w)
				if _, ch, n := SoxInfo(t, obj); ch != 2 || int(n) != w.Frames() {
					t.Errorf("sox: %d channels, %d frames", ch, n)
				}
				if rms, _, f := SoxStat(t, obj, 2, fedSec-1, 0.4); rms < 0.15 || Abs(f-600) > 30 {
					t.Errorf("sox: the callee's last second: RMS %.3f at %d Hz", rms, f)
				}
				return
			}
			// MP3: no LAME tag (it is written at Stop), so the length counts
			// the placeholder frame, the encoder delay and padding: allow
			// 150 ms more, and LAME's own buffer (up to 2 frames) less.
			lo, hi := fedSec-crashFlush.Seconds()-0.08, fedSec+0.15
			m := DecodeMP3(t, obj)
			rate := float64(m.Rate)
			t.Logf("fed %.3f s; lame --decode decodes %.3f s from the repaired MP3 (%d bytes cut)", fedSec, float64(len(m.Left))/rate, recs[0].Repair.Truncated)
			if d := float64(len(m.Left)) / rate; d < lo || d > hi {
				t.Errorf("lame --decode decodes %.3f s; fed %.3f s, want %.3f..%.3f", d, fedSec, lo, hi)
			}
			end := float64(len(m.Left))/rate - 0.15
			for ch, x := range [][]int16{m.Left, m.Right} {
				f := []float64{1000, 600}[ch]
				if l := Level(Window(x, m.Rate, end-1, end), m.Rate, f); l < 8000 {
					t.Errorf("lame --decode: channel %d, last second: %.0f Hz level %.0f", ch, f, l)
				}
			}
			dec := LameDecode(t, obj)
			sr, ch, n := SoxInfo(t, dec)
			if d := float64(n) / float64(sr); ch != 2 || d < lo || d > hi {
				t.Errorf("sox --i of lame's output: %d channels, %.3f s; want 2, %.3f..%.3f", ch, d, lo, hi)
			}
		})
	}
}

// recordAndKill runs TestCrashChild recording into dir, waits until it has
// fed its call, kills it with SIGKILL and returns the frames it fed.
func recordAndKill(t *testing.T, dir string, format Format, silent bool) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashFormatEnv+"="+format.String())
	if silent {
		cmd.Env = append(cmd.Env, crashSilentEnv+"=1")
	}
	out, err := cmd.StdoutPipe()
	Must(t, err)
	cmd.Stderr = os.Stderr
	Must(t, cmd.Start())
	fed := -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "fed "); ok {
			fed, _ = strconv.Atoi(v)
			break
		}
	}
	if fed < 0 {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("the recording process never said how much it fed")
	}
	Must(t, cmd.Process.Signal(syscall.SIGKILL))
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the child was not killed by SIGKILL: %v", err)
	}
	return fed
}

// TestCrashSilentStream kills a recording process mid-call while one party
// sends nothing (silence suppression, no Gap yet): the recorder waits for
// that party up to the Window before writing the other's audio, so the
// file holds the audio fed up to the kill within FlushInterval + Window
// (the bound Config.FlushInterval documents), not within FlushInterval
// alone; what it holds is the talking party's audio beside silence.
func TestCrashSilentStream(t *testing.T) {
	testenv.Short(t, "starts a child process")
	dir := filepath.Join(t.TempDir(), "rec")
	fed := recordAndKill(t, dir, WAV, true)
	part := filepath.Join(dir, "AC9", "AP9", "killed.wav.part")
	flushFrames := int(DurationToFrames(crashFlush, Rate8k))
	const windowFrames = 8192 // the default Window, 1 s, rounded up to a power of two
	w := ReadWAV(t, part)
	t.Logf("fed %d frames to one stream, the other silent; the killed process's file declares %d", fed, w.Frames())
	if w.Frames() < fed-flushFrames-windowFrames || w.Frames() > fed {
		t.Errorf("go-audio/wav reads %d frames; fed %d, flush interval %d, window %d", w.Frames(), fed, flushFrames, windowFrames)
	}
	if w.Frames() == 0 {
		t.Fatal("nothing written")
	}
	m := NewModel(2, w.Frames())
	m.Put(0, 0, Tone(1000, 10000, Rate8k, 0, w.Frames()))
	m.Compare(t, w)
}
