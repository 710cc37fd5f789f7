//go:build unix

package recording

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/voicegw/voicegw/media"
)

// mediaAudio is what a media.Receiver delivers for one packet.
func mediaAudio(pos int64, pcm []int16, at time.Time) media.Audio {
	return media.Audio{Position: pos, PCM: pcm, Arrival: at}
}

// fsizeChild is set in the environment of the child process that
// TestWriteFailureFileSizeLimit runs.
const fsizeChild = "VOICEGW_RECORDING_FSIZE_CHILD"

// TestWriteFailureFileSizeLimit: the file of a recording made the way a
// gateway makes it (Dir.Create, two parties through their MediaHandlers)
// stops taking data mid-call, the way a full disk does: the test runs
// itself again in a child process whose file size limit (RLIMIT_FSIZE,
// which needs no privilege, and no tmpfs to fill) is 256 KiB, about 8 s of
// 8 kHz stereo WAV, so the kernel refuses the write that would pass it
// (EFBIG). The recorder reports it: Failed is closed within FlushInterval
// of audio of the limit, Err wraps ErrWrite and the system's error, later
// audio is refused, Stop returns the failure, and the file holds a valid
// WAV of what was written.
func TestWriteFailureFileSizeLimit(t *testing.T) {
	if os.Getenv(fsizeChild) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWriteFailureFileSizeLimit$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), fsizeChild+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestWriteFailureFileSizeLimit") || !strings.Contains(string(out), "file too large") {
			t.Fatalf("child process: %v\n%s", err, out)
		}
		t.Logf("child process:\n%s", out)
		return
	}
	const limit = 256 << 10
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
	d, err := OpenDir(DirConfig{Path: t.TempDir()})
	must(t, err)
	rec, err := d.Create(ID{Account: "AC1", Application: "AP1", Session: "S1"}, Config{Streams: twoStreams(), Start: t0})
	must(t, err)
	ha, _ := rec.Stream(0).MediaHandler()
	hb, _ := rec.Stream(1).MediaHandler()
	pa, pb := tone(440, 8000, rate8k, 0, 160), tone(880, 8000, rate8k, 0, 160)
	var k int64
	failedAt := int64(-1)
	for ; k < 3000 && failedAt < 0; k++ { // at most 60 s of call
		at := t0.Add(time.Duration(k) * 20 * time.Millisecond)
		ha.HandleAudio(mediaAudio(k*160, pa, at))
		hb.HandleAudio(mediaAudio(k*160, pb, at))
		select {
		case <-rec.Failed():
			failedAt = k
		default:
		}
	}
	if failedAt < 0 {
		t.Fatal("60 s of audio past a 256 KiB file size limit and Failed() is not closed")
	}
	// 256 KiB is 8.2 s of stereo; the failure must show within the
	// write buffer and a FlushInterval (1 s) of audio after it.
	bytesFed := (failedAt + 1) * 160 * 4
	if slack := int64(wavBufSize + 8000*4 + rec.w*4); bytesFed > limit+slack {
		t.Errorf("failure reported after %d bytes of audio, %d past the limit", bytesFed, bytesFed-limit)
	}
	werr := rec.Err()
	if !errors.Is(werr, ErrWrite) || !errors.Is(werr, syscall.EFBIG) {
		t.Fatalf("Err() = %v, want ErrWrite wrapping EFBIG", werr)
	}
	t.Logf("failed after %v of call: %v", time.Duration(failedAt+1)*20*time.Millisecond, werr)
	ha.HandleAudio(mediaAudio(k*160, pa, t0.Add(time.Duration(k)*20*time.Millisecond)))
	if st := ha.Stats(); st.Refused == 0 {
		t.Errorf("audio after the failure not refused: %+v", st)
	}
	if err := rec.Stream(0).Write(k*160, pa); !errors.Is(err, ErrWrite) {
		t.Errorf("Write after the failure: %v, want ErrWrite", err)
	}
	res, err := rec.Stop()
	if !errors.Is(err, ErrWrite) {
		t.Errorf("Stop: %v, want ErrWrite", err)
	}
	info, err := Inspect(res.Path)
	if err != nil {
		t.Fatalf("the file after the failure: %v", err)
	}
	if info.Size > limit || info.Duration < 7*time.Second || info.Channels != 2 {
		t.Errorf("the file after the failure: %+v, want a valid stereo WAV of about 8 s", info)
	}
}
