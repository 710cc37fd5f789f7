package recording

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"unsafe"
)

// Why our own WAV writer instead of github.com/go-audio/wav's Encoder:
//   - the Encoder writes the RIFF and data chunk sizes only in Close, by
//     seeking back (it needs an io.WriteSeeker); until then the header says
//     "no data", so a process killed mid-call leaves a file that players
//     read as empty. Ours rewrites the header at every flush interval, so
//     the file on disk is a valid WAV holding the audio up to the last
//     flush at any moment, and Repair recovers the rest.
//   - NewEncoder allocates a buffer of one minute of audio per file
//     (1.9 MB for 8 kHz stereo), thirty times our budget for a whole
//     active recording, and converts each sample through binary.Write and
//     an interface, which allocates per sample.
// go-audio/wav is used where it fits: the tests read and check our files
// with its Decoder.

// wavHeaderSize is the size of the canonical header this package writes:
// RIFF, fmt (16 bytes, PCM) and the data chunk header.
const wavHeaderSize = 44

// maxWAVData is the largest data chunk a RIFF file can describe.
const maxWAVData = math.MaxUint32 - (wavHeaderSize - 8)

// wavFormat describes the PCM data of a WAV file.
type wavFormat struct {
	Channels   int
	SampleRate int
	// DataOffset is where the sample data starts in the file.
	DataOffset int64
	// DataSize is the data chunk size the header declares.
	DataSize int64
}

// blockAlign is the size of one frame in bytes.
func (w wavFormat) blockAlign() int { return 2 * w.Channels }

// putWAVHeader writes the canonical 44-byte header for 16-bit PCM with
// dataSize bytes of data into b.
//
//	0  "RIFF"  4 size=36+data  8 "WAVE"
//	12 "fmt "  16 16  20 format=1 (PCM)  22 channels  24 sample rate
//	28 byte rate  32 block align  34 bits per sample=16
//	36 "data"  40 data size
func putWAVHeader(b []byte, channels, rate int, dataSize uint32) {
	le := binary.LittleEndian
	copy(b[0:], "RIFF")
	le.PutUint32(b[4:], 36+dataSize)
	copy(b[8:], "WAVEfmt ")
	le.PutUint32(b[16:], 16)
	le.PutUint16(b[20:], 1)
	le.PutUint16(b[22:], uint16(channels))
	le.PutUint32(b[24:], uint32(rate))
	le.PutUint32(b[28:], uint32(rate*channels*2))
	le.PutUint16(b[32:], uint16(channels*2))
	le.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	le.PutUint32(b[40:], dataSize)
}

// parseWAVHeader reads the chunks of a RIFF WAVE file from b, the start of a
// file of size bytes, up to the header of the data chunk. It accepts any
// chunk order with "fmt " before "data" and other chunks skipped, but only
// 16-bit PCM (format 1, or WAVE_FORMAT_EXTENSIBLE with the PCM sub-format),
// which is all this package writes and repairs.
func parseWAVHeader(b []byte) (wavFormat, error) {
	le := binary.LittleEndian
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return wavFormat{}, fmt.Errorf("%w: no RIFF WAVE header", ErrNotRecording)
	}
	var f wavFormat
	haveFmt := false
	off := 12
	for {
		if off+8 > len(b) {
			return wavFormat{}, fmt.Errorf("%w: no data chunk in the first %d bytes", ErrNotRecording, len(b))
		}
		id := string(b[off : off+4])
		size := int64(le.Uint32(b[off+4:]))
		body := off + 8
		switch id {
		case "fmt ":
			if size < 16 || body+16 > len(b) {
				return wavFormat{}, fmt.Errorf("%w: fmt chunk of %d bytes at offset %d", ErrNotRecording, size, off)
			}
			tag := le.Uint16(b[body:])
			f.Channels = int(le.Uint16(b[body+2:]))
			f.SampleRate = int(le.Uint32(b[body+4:]))
			bits := le.Uint16(b[body+14:])
			if tag == 0xFFFE && size >= 40 && body+40 <= len(b) {
				tag = le.Uint16(b[body+24:]) // sub-format GUID starts with the format tag
			}
			if tag != 1 || bits != 16 {
				return wavFormat{}, fmt.Errorf("%w: format tag %#x with %d bits per sample, want 16-bit PCM", ErrNotRecording, tag, bits)
			}
			if f.Channels < 1 || f.Channels > 8 || f.SampleRate < 1000 || f.SampleRate > 384000 {
				return wavFormat{}, fmt.Errorf("%w: %d channels at %d Hz", ErrNotRecording, f.Channels, f.SampleRate)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return wavFormat{}, fmt.Errorf("%w: data chunk at offset %d before the fmt chunk", ErrNotRecording, off)
			}
			f.DataOffset = int64(body)
			f.DataSize = size
			return f, nil
		}
		next := int64(body) + size + size&1 // chunks are padded to even sizes
		if next > int64(len(b)) || next > math.MaxInt32 {
			return wavFormat{}, fmt.Errorf("%w: chunk %q of %d bytes at offset %d runs past the header", ErrNotRecording, id, size, off)
		}
		off = int(next)
	}
}

// fileOut appends to a file through a fixed buffer and rewrites headers in
// place. It never allocates after creation.
type fileOut struct {
	f   *os.File
	buf []byte // pending bytes, capacity fixed at creation
	// end is the number of bytes in the file (not counting buf).
	end int64
}

// free returns the unused part of the buffer, writing the buffer out first
// when fewer than min bytes are free.
func (o *fileOut) free(min int) ([]byte, error) {
	if cap(o.buf)-len(o.buf) < min {
		if err := o.spill(); err != nil {
			return nil, err
		}
	}
	return o.buf[len(o.buf):cap(o.buf)], nil
}

// commit marks n bytes of the slice returned by free as written.
func (o *fileOut) commit(n int) { o.buf = o.buf[:len(o.buf)+n] }

// write appends p, going through the buffer.
func (o *fileOut) write(p []byte) error {
	for len(p) > 0 {
		space, err := o.free(1)
		if err != nil {
			return err
		}
		n := copy(space, p)
		o.commit(n)
		p = p[n:]
	}
	return nil
}

// spill writes the buffer to the file.
func (o *fileOut) spill() error {
	if len(o.buf) == 0 {
		return nil
	}
	n, err := o.f.Write(o.buf)
	o.end += int64(n)
	if err != nil {
		// Keep what was not written, so a later flush can retry it.
		o.buf = o.buf[:copy(o.buf, o.buf[n:])]
		return err
	}
	o.buf = o.buf[:0]
	return nil
}

// wavSink writes interleaved PCM16 frames as a WAV file that is valid at
// every moment: the data goes out in append order, then the header is
// rewritten to declare exactly the data already in the file.
type wavSink struct {
	out      fileOut
	channels int
	rate     int
	data     int64 // data bytes accepted (file + buffer)
	hdr      [wavHeaderSize]byte
	sync     bool
}

func newWAVSink(f *os.File, channels, rate, bufSize int, sync bool) (*wavSink, error) {
	s := &wavSink{out: fileOut{f: f, buf: make([]byte, 0, bufSize)}, channels: channels, rate: rate, sync: sync}
	putWAVHeader(s.hdr[:], channels, rate, 0)
	if _, err := f.Write(s.hdr[:]); err != nil {
		return nil, err
	}
	s.out.end = wavHeaderSize
	if sync {
		if err := f.Sync(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *wavSink) write(pcm []int16) error {
	if s.data+int64(2*len(pcm)) > maxWAVData {
		return ErrTooLarge
	}
	for len(pcm) > 0 {
		space, err := s.out.free(2)
		if err != nil {
			return err
		}
		n := min(len(space)/2, len(pcm))
		putPCM16LE(space[:2*n], pcm[:n])
		s.out.commit(2 * n)
		s.data += int64(2 * n)
		pcm = pcm[n:]
	}
	return nil
}

// direct reports whether samples interleaved samples can be mixed straight
// into the write buffer (reserve): on a little-endian machine, when they
// fit in it.
func (s *wavSink) direct(samples int) bool {
	return littleEndian() && 2*samples <= cap(s.out.buf)
}

// reserve returns room for samples samples at the end of the write buffer
// (writing the buffer out first if it has less), as PCM16 samples that are
// the file's little-endian bytes; commit then adds them to the file. The
// buffer's length is always even (whole samples), so the room is aligned.
func (s *wavSink) reserve(samples int) ([]int16, error) {
	if s.data+int64(2*samples) > maxWAVData {
		return nil, ErrTooLarge
	}
	space, err := s.out.free(2 * samples)
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*int16)(unsafe.Pointer(&space[0])), samples), nil
}

// commit adds the samples written to the room reserve returned.
func (s *wavSink) commit(samples int) {
	s.out.commit(2 * samples)
	s.data += int64(2 * samples)
}

// putPCM16LE stores pcm in dst (2×len(pcm) bytes) as little-endian 16-bit
// samples: a copy on a little-endian machine, byte by byte elsewhere.
func putPCM16LE(dst []byte, pcm []int16) {
	if len(pcm) == 0 {
		return
	}
	if littleEndian() {
		copy(dst, unsafe.Slice((*byte)(unsafe.Pointer(&pcm[0])), 2*len(pcm)))
		return
	}
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(dst[2*i:], uint16(v))
	}
}

// littleEndian reports whether the machine stores the low byte first.
func littleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// flush writes the buffered data, then the header declaring it.
func (s *wavSink) flush() error {
	if err := s.out.spill(); err != nil {
		return err
	}
	putWAVHeader(s.hdr[:], s.channels, s.rate, uint32(s.out.end-wavHeaderSize))
	if _, err := s.out.f.WriteAt(s.hdr[:], 0); err != nil {
		return err
	}
	if s.sync {
		return s.out.f.Sync()
	}
	return nil
}

// close flushes, syncs and closes the file, and returns its size.
func (s *wavSink) close() (int64, error) {
	err := s.flush()
	if err == nil && !s.sync {
		err = s.out.f.Sync()
	}
	if cerr := s.out.f.Close(); err == nil {
		err = cerr
	}
	return s.out.end, err
}

func (s *wavSink) abort() { _ = s.out.f.Close() }

// RepairResult says what Repair found and did.
type RepairResult struct {
	// Format of the file.
	Format Format
	// Changed is true when Repair modified the file.
	Changed bool
	// Truncated is the number of bytes cut from the end: a partial WAV
	// frame or a partial MP3 frame.
	Truncated int64
	// Info describes the file after the repair.
	Info Info
}

// repairWAV makes the header of the WAV file f (of the given size) declare
// all whole frames in the file, and cuts a partial frame off its end.
func repairWAV(f *os.File, size int64) (RepairResult, error) {
	res := RepairResult{Format: WAV}
	head := make([]byte, min(size, 4096))
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, size), head); err != nil {
		return res, fmt.Errorf("%w: reading the header: %v", ErrNotRecording, err)
	}
	wf, err := parseWAVHeader(head)
	if err != nil {
		return res, err
	}
	ba := int64(wf.blockAlign())
	avail := size - wf.DataOffset
	data := avail - avail%ba
	if data > maxWAVData {
		data = maxWAVData - maxWAVData%ba
	}
	if end := wf.DataOffset + data; end < size {
		if err := f.Truncate(end); err != nil {
			return res, err
		}
		res.Truncated = size - end
		res.Changed = true
	}
	if data != wf.DataSize || int64(binary.LittleEndian.Uint32(head[4:])) != wf.DataOffset-8+data {
		le := binary.LittleEndian
		var b [4]byte
		le.PutUint32(b[:], uint32(wf.DataOffset-8+data))
		if _, err := f.WriteAt(b[:], 4); err != nil {
			return res, err
		}
		le.PutUint32(b[:], uint32(data))
		if _, err := f.WriteAt(b[:], wf.DataOffset-4); err != nil {
			return res, err
		}
		res.Changed = true
	}
	if res.Changed {
		if err := f.Sync(); err != nil {
			return res, err
		}
	}
	wf.DataSize = data
	res.Info = wavInfo(wf, wf.DataOffset+data)
	return res, nil
}

func wavInfo(wf wavFormat, size int64) Info {
	frames := wf.DataSize / int64(wf.blockAlign())
	return Info{
		Format:     WAV,
		Channels:   wf.Channels,
		SampleRate: wf.SampleRate,
		Frames:     frames,
		Duration:   framesToDuration(frames, wf.SampleRate),
		Size:       size,
	}
}

// inspectWAV describes the WAV file f by its header.
func inspectWAV(f io.ReaderAt, size int64) (Info, error) {
	head := make([]byte, min(size, 4096))
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, size), head); err != nil {
		return Info{}, fmt.Errorf("%w: reading the header: %v", ErrNotRecording, err)
	}
	wf, err := parseWAVHeader(head)
	if err != nil {
		return Info{}, err
	}
	if wf.DataOffset+wf.DataSize > size {
		return Info{}, fmt.Errorf("%w: header declares %d data bytes, the file holds %d (run Repair)", ErrNotRecording, wf.DataSize, size-wf.DataOffset)
	}
	return wavInfo(wf, size), nil
}
