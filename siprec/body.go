package siprec

import (
	"errors"
	"fmt"
	"strings"

	"github.com/voicegw/voicegw/siprec/metadata"
)

// Content types and the disposition of SIPREC bodies (RFC 7866 §8.1, §12).
const (
	ContentTypeSDP = "application/sdp"
	// ContentTypeMetadata is what voicegw writes for metadata parts.
	ContentTypeMetadata = metadata.ContentType
	// ContentTypeMetadataLegacy is accepted as well on input.
	ContentTypeMetadataLegacy = metadata.LegacyContentType
	// DispositionRecordingSession marks the metadata part.
	DispositionRecordingSession = "recording-session"
)

// DefaultMaxMetadataSize is the metadata size limit when BodyOptions (or
// the Server's Config) gives none: 16 KiB, about eight times what a
// two-party call's metadata takes (a conference adds about 1 KB per
// participant).
//
// It is chosen so that a recording server can answer 413 to metadata over
// it on both transports, with sipgo's default sizes: a SIPREC INVITE whose
// metadata is just over 16 KiB is about 18 KB, inside the 32 KiB that
// sipgo reads of a UDP datagram (TransportBufferReadSize) and the 65,535
// bytes it takes of a TCP message (ParseMaxMessageLength). A request over
// those sizes never reaches the Server: sipgo drops the datagram unanswered
// (the client retransmits, then times out) or closes the TCP connection
// without an answer. So the Server answers 413 to metadata from 16 KiB + 1
// up to about 31 KB over UDP and about 63 KB over TCP, and nothing beyond.
const DefaultMaxMetadataSize = 16 << 10

// Errors of ParseBody (besides ErrMalformedBody). The response code is what a
// recording server answers.
var (
	// ErrNoMetadata: RequireMetadata was set and the body has no metadata
	// part. 400.
	ErrNoMetadata = errors.New("siprec: no recording metadata in the body")
	// ErrNoSDP: RequireSDP was set and the body has no SDP. 400 (a SIPREC
	// server does not take offerless INVITEs).
	ErrNoSDP = errors.New("siprec: no SDP in the body")
	// ErrBadMetadata: the metadata part is not a metadata document; the
	// error also wraps the *metadata.ParseError. 400.
	ErrBadMetadata = errors.New("siprec: unparseable recording metadata")
	// ErrMetadataTooLarge: the metadata part is over the size limit. 413.
	ErrMetadataTooLarge = errors.New("siprec: recording metadata too large")
	// ErrUnsupportedBody: the body's content type is none of application/sdp,
	// the metadata types or multipart/*. 415.
	ErrUnsupportedBody = errors.New("siprec: unsupported body content type")
)

// BodyOptions tune ParseBody. The zero value (or nil) accepts bodies with or
// without metadata and limits metadata to DefaultMaxMetadataSize.
type BodyOptions struct {
	// MaxMetadataSize is the largest metadata part accepted, in bytes.
	// 0 means DefaultMaxMetadataSize; a negative value means no limit.
	MaxMetadataSize int
	// RequireMetadata makes a body without a metadata part an error
	// (ErrNoMetadata): set it for the initial INVITE.
	RequireMetadata bool
	// RequireSDP makes a body without SDP an error (ErrNoSDP).
	RequireSDP bool
}

// Body is a parsed SIPREC request body. Byte slices point into the body
// given to ParseBody.
type Body struct {
	// SDP is the application/sdp part (or the whole body), nil when absent.
	SDP []byte
	// RawMetadata is the metadata part as received, nil when absent.
	RawMetadata []byte
	// Metadata is the parsed <recording> document, nil when absent.
	Metadata *metadata.Recording
	// SnapshotRequest is set instead of Metadata when the metadata part is a
	// <requestsnapshot> (a recording server asking the client for a complete
	// snapshot).
	SnapshotRequest *metadata.RequestSnapshot
	// Parts are all the parts of a multipart body, nil otherwise.
	Parts []Part
}

// ParseBody reads the body of a SIPREC INVITE, re-INVITE, UPDATE or BYE.
// contentType is the message's Content-Type header value. The body may be
// multipart/mixed with an SDP part and a metadata part (RFC 7866 §8.1), or
// SDP alone, or metadata alone, or empty. The metadata part is the first part
// of type application/rs-metadata+xml or application/rs-metadata, else the
// first part with Content-Disposition recording-session. Errors match
// ErrMalformedBody, ErrUnsupportedBody, ErrMetadataTooLarge, ErrBadMetadata,
// ErrNoMetadata or ErrNoSDP.
func ParseBody(contentType string, body []byte, opts *BodyOptions) (*Body, error) {
	var o BodyOptions
	if opts != nil {
		o = *opts
	}
	b := &Body{}
	mt := mediaType(contentType)
	switch {
	case mt == "" && len(body) == 0:
	case mt == ContentTypeSDP:
		b.SDP = body
	case mt == ContentTypeMetadata || mt == ContentTypeMetadataLegacy:
		b.RawMetadata = body
	case strings.HasPrefix(mt, "multipart/"):
		parts, err := ParseMultipart(contentType, body)
		if err != nil {
			return nil, err
		}
		b.Parts = parts
		for _, p := range parts {
			pt := p.MediaType()
			switch {
			case pt == ContentTypeSDP && b.SDP == nil:
				b.SDP = p.Body
			case (pt == ContentTypeMetadata || pt == ContentTypeMetadataLegacy) && b.RawMetadata == nil:
				b.RawMetadata = p.Body
			}
		}
		if b.RawMetadata == nil {
			for _, p := range parts {
				if p.Disposition() == DispositionRecordingSession && p.MediaType() != ContentTypeSDP {
					b.RawMetadata = p.Body
					break
				}
			}
		}
	default:
		if contentType == "" {
			contentType = "(none)"
		}
		return nil, fmt.Errorf("%w: %q (want application/sdp, %s or multipart/mixed)", ErrUnsupportedBody, contentType, ContentTypeMetadata)
	}
	if b.RawMetadata != nil {
		limit := o.MaxMetadataSize
		if limit == 0 {
			limit = DefaultMaxMetadataSize
		}
		if limit > 0 && len(b.RawMetadata) > limit {
			return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMetadataTooLarge, len(b.RawMetadata), limit)
		}
		md, err := metadata.Parse(b.RawMetadata)
		if errors.Is(err, metadata.ErrNotRecording) {
			if snap, serr := metadata.ParseRequestSnapshot(b.RawMetadata); serr == nil {
				b.SnapshotRequest = snap
				err = nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadMetadata, err)
		}
		b.Metadata = md
	}
	if o.RequireMetadata && b.Metadata == nil {
		return nil, fmt.Errorf("%w (content type %q)", ErrNoMetadata, contentType)
	}
	if o.RequireSDP && b.SDP == nil {
		return nil, fmt.Errorf("%w (content type %q)", ErrNoSDP, contentType)
	}
	return b, nil
}

// BuildOptions tune BuildBody. The zero value (or nil) picks a random
// boundary.
type BuildOptions struct {
	// Boundary is the multipart boundary; "" picks NewBoundary(). Set it in
	// tests for reproducible bodies.
	Boundary string
}

// BuildBody writes the body of a SIPREC request and returns its Content-Type
// header value. With both an SDP and metadata it is multipart/mixed (CRLF line
// ends): the SDP part, then the metadata part with Content-Type
// application/rs-metadata+xml and Content-Disposition recording-session
// (RFC 7866 §8.1). With only one of them it is that part alone (a pause
// re-INVITE carries only SDP, a metadata update may carry only metadata).
// With neither, it returns "" and an empty body.
func BuildBody(sdp []byte, md *metadata.Recording, opts *BuildOptions) (contentType string, body []byte, err error) {
	var o BuildOptions
	if opts != nil {
		o = *opts
	}
	var doc []byte
	if md != nil {
		if doc, err = md.Marshal(); err != nil {
			return "", nil, err
		}
	}
	switch {
	case sdp == nil && md == nil:
		return "", nil, nil
	case md == nil:
		return ContentTypeSDP, sdp, nil
	case sdp == nil:
		return ContentTypeMetadata, doc, nil
	}
	return BuildMultipart([]Part{
		{ContentType: ContentTypeSDP, Body: sdp},
		{ContentType: ContentTypeMetadata, ContentDisposition: DispositionRecordingSession, Body: doc},
	}, o.Boundary)
}
