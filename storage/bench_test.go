package storage_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/storage/storagetest"
)

// heapSampler records the peak of live heap objects while it runs.
type heapSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	peak uint64
}

func heapLive() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startHeapSampler() *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		t := time.NewTicker(500 * time.Microsecond)
		defer t.Stop()
		for {
			if v := heapLive(); v > h.peak {
				h.peak = v
			}
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) Stop() uint64 {
	close(h.stop)
	h.done.Wait()
	return h.peak
}

// BenchmarkUpload10MinWAV uploads a 10-minute recording (8 kHz PCM16
// stereo, 19.2 MB) from a file to the in-process S3 server.
//
//   - gofakes3: the server stores the object (in this process's heap), so
//     the heap figures include the server's copy.
//   - sink: the same client and signature check, but the server reads the
//     body and throws it away, so the heap figures are the client's own.
//
// peak-heap-MB is the highest live heap seen during an upload minus the
// live heap before it (sampled every 0.5 ms); B/op and allocs/op are
// process-wide (client and server).
func BenchmarkUpload10MinWAV(b *testing.B) {
	content := storagetest.WAV(8000, 2, 10*time.Minute)
	name := filepath.Join(b.TempDir(), "rec.wav")
	if err := os.WriteFile(name, content, 0o600); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"gofakes3", "sink"} {
		b.Run(mode, func(b *testing.B) {
			srv := storagetest.NewS3Server(b)
			srv.CreateBucket("recordings")
			srv.DiscardBodies(mode == "sink")
			bkt, err := storage.Open(context.Background(), srv.Config("recordings", storage.Tags{{Name: "team", Value: "voice"}}), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer bkt.Close()
			ctx := context.Background()
			var peak uint64
			b.SetBytes(int64(len(content)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				runtime.GC()
				base := heapLive()
				hs := startHeapSampler()
				b.StartTimer()
				if err := bkt.UploadFile(ctx, "AC1/AP1/RE1.wav", name, nil); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if p := hs.Stop(); p > base && p-base > peak {
					peak = p - base
				}
				if mode == "gofakes3" {
					if err := bkt.Delete(ctx, "AC1/AP1/RE1.wav"); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}
