package recording

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/voicegw/voicegw/internal/testenv"
)

// browserAudio is what an <audio> element in Chromium reports of a file.
type browserAudio struct {
	Error    string  `json:"error"`    // MediaError code and message, or "" when it loaded and played
	Duration float64 `json:"duration"` // seconds, at loadedmetadata
	Ended    bool    `json:"ended"`    // the 'ended' event fired
	EndTime  float64 `json:"endTime"`  // currentTime at 'ended'
	// Advances counts the 'timeupdate' events whose currentTime was later
	// than the previous one's: the clock of playback moved.
	Advances int `json:"advances"`
	// What Web Audio's decodeAudioData made of the file (resampled to
	// 16 kHz): channels, seconds, and the amplitude of 440 and 880 Hz in
	// each channel over the middle second.
	Decoded struct {
		Error    string        `json:"error"`
		Bytes    int           `json:"bytes"` // fetched
		Channels int           `json:"channels"`
		Seconds  float64       `json:"seconds"`
		Levels   [2][2]float64 `json:"levels"` // [channel][440 Hz, 880 Hz], full scale 1
	} `json:"decoded"`
}

// chromiumAudio loads each URL in an <audio> element of a headless
// Chromium (Debian's chromium, driven with chromedp), waits for its
// metadata, plays it to the end and returns what the element reported.
func chromiumAudio(t *testing.T, page string, urls []string) []browserAudio {
	t.Helper()
	exe := testenv.RequireTool(t, "chromium", "apt-get install -y chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.UserDataDir(t.TempDir()),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	if _, err := chromedp.Run(bctx, chromedp.Navigate(page)); err != nil {
		t.Fatalf("chromium: opening %s: %v", page, err)
	}
	out := make([]browserAudio, len(urls))
	for i, u := range urls {
		js := fmt.Sprintf(`new Promise((resolve) => {
	const a = new Audio();
	const r = {error: "", duration: NaN, ended: false, endTime: NaN, advances: 0};
	let last = -1;
	a.addEventListener("timeupdate", () => {
		if (a.currentTime > last && a.currentTime > 0) { r.advances++; }
		last = a.currentTime;
	});
	const fail = (what) => { r.error = what; resolve(r); };
	a.addEventListener("error", () => fail(a.error ? ("MediaError " + a.error.code + ": " + a.error.message) : "error"));
	a.addEventListener("loadedmetadata", () => {
		r.duration = a.duration;
		a.play().catch((e) => fail("play(): " + e));
	});
	a.addEventListener("ended", async () => {
		r.ended = true;
		r.endTime = a.currentTime;
		r.decoded = {error: "", channels: 0, seconds: 0, levels: [[0, 0], [0, 0]]};
		try {
			const ctx = new OfflineAudioContext(2, 1, 16000);
			const body = await (await fetch(a.src)).arrayBuffer();
			r.decoded.bytes = body.byteLength;
			const b = await ctx.decodeAudioData(body);
			r.decoded.channels = b.numberOfChannels;
			r.decoded.seconds = b.length / b.sampleRate;
			const from = Math.floor(b.length / 2 - b.sampleRate / 2);
			for (let c = 0; c < Math.min(2, b.numberOfChannels); c++) {
				const x = b.getChannelData(c).subarray(from, from + b.sampleRate);
				[440, 880].forEach((f, i) => {
					const w = 2 * Math.PI * f / b.sampleRate, k = 2 * Math.cos(w);
					let s1 = 0, s2 = 0;
					for (const v of x) { const s0 = v + k * s1 - s2; s2 = s1; s1 = s0; }
					r.decoded.levels[c][i] = 2 * Math.sqrt(Math.max(0, s1 * s1 + s2 * s2 - k * s1 * s2)) / x.length;
				});
			}
		} catch (e) {
			r.decoded.error = String(e);
		}
		resolve(r);
	});
	setTimeout(() => fail("timed out at currentTime " + a.currentTime + ", readyState " + a.readyState), 30000);
	a.src = %q;
})`, u)
		r, err := chromedp.Run(bctx, chromedp.Evaluate[browserAudio](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("chromium: %s: %v", u, err)
		}
		out[i] = r
	}
	return out
}

// TestMP3PlaysInChromium: recordings in every output rate this package
// writes (the default: 8 kHz MPEG-2.5, long blocks only), a mono one
// (MP3Config.Mono), and one repaired after a crash (no LAME tag), load in Chromium's
// <audio> element with the duration the file declares, play (timeupdate
// events advance currentTime) and reach the end.
func TestMP3PlaysInChromium(t *testing.T) {
	l := requireLAME(t)
	testenv.Short(t, "starts a headless Chromium")
	dir := t.TempDir()
	const secs = 2.5
	record := func(name string, c MP3Config, crash string) (string, Info) {
		p := filepath.Join(dir, name)
		r, err := New(p, Config{Format: MP3, LAME: l, MP3: c, Streams: twoStreams(), Start: t0})
		must(t, err)
		a := feeder{t, r.Stream(0), rate8k, 440, 8000}
		b := feeder{t, r.Stream(1), rate8k, 880, 8000}
		must(t, a.s.StartAt(0))
		must(t, b.s.StartAt(0))
		for k := int64(0); k < secs*50; k++ {
			a.send(k*160, 160)
			b.send(k*160, 160)
		}
		if crash != "" {
			// What a crash leaves: the file as it is on disk mid-call (the
			// tag's placeholder, no tag) and a frame written halfway.
			must(t, r.Flush())
			b, err := os.ReadFile(p)
			must(t, err)
			must(t, os.WriteFile(crash, append(b, b[len(b)-300:len(b)-120]...), 0o600))
		}
		_, err = r.Stop()
		must(t, err)
		info, err := Inspect(p)
		must(t, err)
		return name, info
	}
	type file struct {
		name string
		info Info
		tag  bool // a LAME tag declares the exact length
	}
	var files []file
	for _, c := range []struct {
		name string
		c    MP3Config
	}{
		{"default.mp3", MP3Config{}},
		{"8k-32.mp3", MP3Config{SampleRate: 8000, Bitrate: 32}},
		{"16k-48.mp3", MP3Config{SampleRate: 16000, Bitrate: 48}},
		{"mono-32.mp3", MP3Config{Mono: true, Bitrate: 32}},
	} {
		n, info := record(c.name, c.c, "")
		files = append(files, file{n, info, true})
	}
	cut := filepath.Join(dir, "repaired.mp3")
	record("crashed.mp3", MP3Config{}, cut)
	res, err := Repair(cut)
	must(t, err)
	files = append(files, file{"repaired.mp3", res.Info, false})

	mux := http.NewServeMux()
	mux.Handle("/f/", http.StripPrefix("/f/", http.FileServer(http.Dir(dir))))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<!doctype html><title>mp3</title>")
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	var urls []string
	for _, f := range files {
		urls = append(urls, srv.URL+"/f/"+f.name)
	}
	got := chromiumAudio(t, srv.URL+"/", urls)
	for i, f := range files {
		g := got[i]
		t.Logf("%s: %d Hz, %d kbit/s, file %v; Chromium: %+v", f.name, f.info.SampleRate, f.info.Bitrate, f.info.Duration, g)
		if g.Error != "" || !g.Ended {
			t.Errorf("%s (%d Hz): Chromium did not play it to the end: %+v", f.name, f.info.SampleRate, g)
			continue
		}
		if g.Advances < 2 {
			t.Errorf("%s: %d timeupdate events advanced currentTime; want several while it plays", f.name, g.Advances)
		}
		want := f.info.Duration.Seconds()
		tol := 0.01
		if !f.tag {
			tol = 0.2
		}
		if math.Abs(g.Duration-want) > tol || math.Abs(g.EndTime-want) > tol {
			t.Errorf("%s: Chromium says %.4f s and ended at %.4f s, the file %.4f s (want within %.0f ms)", f.name, g.Duration, g.EndTime, want, tol*1000)
		}
		// The tones (amplitude 8000: 0.244 of full scale) in their channels.
		d := g.Decoded
		if f.info.Channels == 1 {
			// One channel holding both tones.
			if d.Error != "" || d.Bytes != int(f.info.Size) || d.Channels != 1 || math.Abs(d.Seconds-want) > tol+0.001 ||
				d.Levels[0][0] < 0.2 || d.Levels[0][1] < 0.2 {
				t.Errorf("%s: Chromium's decodeAudioData: %+v; want the file's %d bytes decoded to 1 channel of %.3f s, 440 and 880 Hz together (0.24 each)", f.name, d, f.info.Size, want)
			}
			continue
		}
		if d.Error != "" || d.Bytes != int(f.info.Size) || d.Channels != 2 || math.Abs(d.Seconds-want) > tol+0.001 ||
			d.Levels[0][0] < 0.2 || d.Levels[0][1] > 0.01 || d.Levels[1][1] < 0.2 || d.Levels[1][0] > 0.01 {
			t.Errorf("%s: Chromium's decodeAudioData: %+v; want the file's %d bytes decoded to 2 channels of %.3f s, 440 Hz on the left and 880 Hz on the right (0.24 each)", f.name, d, f.info.Size, want)
		}
	}
}
