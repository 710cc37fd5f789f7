package storage

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	"golang.org/x/oauth2"
	"google.golang.org/api/googleapi"

	"github.com/voicegw/voicegw/storage/egress"
)

// Errors a caller can match with errors.Is. Errors of Test, Upload and the
// Spool wrap one of them (when the cause is known) and the vendor's error.
var (
	// ErrBadCredentials: the vendor refused the credentials (wrong access
	// key or secret, wrong account key in the connection string, a service
	// key that was revoked or is not the one the token endpoint knows).
	ErrBadCredentials = errors.New("bad credentials")
	// ErrPermissionDenied: the credentials are valid but may not do what
	// was asked (a policy lacks s3:PutObject, s3:PutObjectTagging, ...).
	ErrPermissionDenied = errors.New("permission denied")
	// ErrNoSuchBucket: the bucket (container, directory) does not exist.
	ErrNoSuchBucket = errors.New("no such bucket")
	// ErrUnreachable: the vendor's endpoint could not be reached (DNS,
	// refused or reset connection, timeout, TLS failure).
	ErrUnreachable = errors.New("endpoint unreachable")
	// ErrWrongRegion: the bucket exists in another region than configured
	// (S3 PermanentRedirect, or a signature scoped to the wrong region).
	ErrWrongRegion = errors.New("bucket is in another region")
	// ErrNotFound: the object does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrNotSupported: the vendor does not offer what was asked (signed
	// URLs for the local directory or memory).
	ErrNotSupported = errors.New("not supported by this bucket vendor")
	// ErrInvalidKey: an object key that cannot be stored.
	ErrInvalidKey = errors.New("invalid object key")
	// ErrVerifyFailed: the bucket answered, but what was read back is not
	// what was written.
	ErrVerifyFailed = errors.New("read back differs from what was written")
	// ErrClosed: the bucket or spool was closed.
	ErrClosed = errors.New("closed")
	// ErrEgressRefused: the endpoint's address is one Options.Egress
	// refuses (loopback, link-local, ...); nothing was sent to it. It is
	// egress.ErrRefused, so either matches.
	ErrEgressRefused = egress.ErrRefused
)

// errServer is the kind of a server-side (5xx, throttling) failure; it is
// transient and not exported: callers see the vendor's error and, after
// retries, the last one.
var errServer = errors.New("server error")

// classify returns the sentinel that describes err (nil when none applies)
// and whether trying again may help.
func classify(err error) (kind error, transient bool) {
	if err == nil {
		return nil, false
	}
	for _, k := range []error{ErrEgressRefused, ErrBadCredentials, ErrPermissionDenied, ErrNoSuchBucket, ErrWrongRegion, ErrUnreachable, ErrNotFound, ErrNotSupported, ErrInvalidKey, ErrInvalidConfig, ErrClosed} {
		if errors.Is(err, k) {
			return k, k == ErrUnreachable // never ErrEgressRefused: a policy does not change between tries
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil, false
	}
	// Vendor API errors first: they carry the most precise code.
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "PermanentRedirect", "IllegalLocationConstraintException":
			return ErrWrongRegion, false
		case "AuthorizationHeaderMalformed":
			// "the region 'us-east-1' is wrong; expecting 'eu-west-1'"
			if strings.Contains(ae.ErrorMessage(), "region") {
				return ErrWrongRegion, false
			}
			return ErrBadCredentials, false
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "TokenRefreshRequired", "InvalidSecurity":
			return ErrBadCredentials, false
		case "AccessDenied", "AllAccessDisabled", "AccountProblem":
			return ErrPermissionDenied, false
		case "NoSuchBucket":
			return ErrNoSuchBucket, false
		case "NoSuchKey", "NotFound":
			return ErrNotFound, false
		case "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "RequestTimeTooSkewed", "Throttling", "ThrottlingException", "OperationAborted":
			return errServer, true
		}
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		// Azure answers a wrong account key with AuthenticationFailed,
		// Azurite with AuthorizationFailure; both say "Server failed to
		// authenticate the request" in the status line.
		if re.RawResponse != nil && strings.Contains(strings.ToLower(re.RawResponse.Status), "failed to authenticate") {
			return ErrBadCredentials, false
		}
		switch re.ErrorCode {
		case "AuthenticationFailed", "InvalidAuthenticationInfo", "NoAuthenticationInformation":
			return ErrBadCredentials, false
		case "AuthorizationFailure", "AuthorizationPermissionMismatch", "AuthorizationResourceTypeMismatch", "AuthorizationSourceIPMismatch", "AuthorizationProtocolMismatch", "InsufficientAccountPermissions":
			return ErrPermissionDenied, false
		case "ContainerNotFound", "ContainerBeingDeleted", "ContainerDisabled":
			return ErrNoSuchBucket, false
		case "BlobNotFound":
			return ErrNotFound, false
		case "ServerBusy", "InternalError", "OperationTimedOut":
			return errServer, true
		}
		if k, t, ok := byStatus(re.StatusCode); ok {
			return k, t
		}
	}
	var rerr *oauth2.RetrieveError
	if errors.As(err, &rerr) {
		// The token endpoint refused the service key (invalid_grant:
		// "Invalid JWT Signature", unknown key ID, disabled account).
		if rerr.Response != nil && rerr.Response.StatusCode >= 500 {
			return errServer, true
		}
		return ErrBadCredentials, false
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		if ge.Code == http.StatusNotFound && strings.Contains(strings.ToLower(ge.Message), "bucket") {
			return ErrNoSuchBucket, false
		}
		if k, t, ok := byStatus(ge.Code); ok {
			return k, t
		}
	}
	var hre *awshttp.ResponseError
	if errors.As(err, &hre) {
		if k, t, ok := byStatus(hre.HTTPStatusCode()); ok {
			return k, t
		}
	}
	// Transport failures: the endpoint was not reached or dropped us.
	var cert x509.UnknownAuthorityError
	var host x509.HostnameError
	var inv x509.CertificateInvalidError
	var tlsRec tls.RecordHeaderError
	if errors.As(err, &cert) || errors.As(err, &host) || errors.As(err, &inv) || errors.As(err, &tlsRec) {
		return ErrUnreachable, false // retrying will not fix a certificate
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return ErrUnreachable, dnsErr.IsTemporary || dnsErr.IsTimeout
	}
	var opErr *net.OpError
	var netErr net.Error
	if errors.As(err, &opErr) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) ||
		(errors.As(err, &netErr) && netErr.Timeout()) {
		return ErrUnreachable, true
	}
	var ue *url.Error
	if errors.As(err, &ue) && errors.Is(ue.Err, io.EOF) {
		// The connection closed before a response arrived.
		return ErrUnreachable, true
	}
	return nil, false
}

//lint:ignore ST1008 kind is a classification of a failure, not a failure of byStatus
func byStatus(code int) (kind error, transient bool, ok bool) {
	switch {
	case code == http.StatusUnauthorized:
		return ErrBadCredentials, false, true
	case code == http.StatusForbidden:
		return ErrPermissionDenied, false, true
	case code == http.StatusNotFound:
		return ErrNotFound, false, true
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		return errServer, true, true
	}
	return nil, false, false
}

// isTransient reports whether retrying the operation that failed with err
// may succeed.
func isTransient(err error) bool {
	_, t := classify(err)
	return t
}

// OpError is the error of an operation on a bucket: which operation, on
// which bucket, what kind of failure (one of the ErrXxx of this package,
// matched with errors.Is) and the vendor's error. Its message never holds a
// secret: query strings of URLs (signatures, SAS tokens) are removed.
type OpError struct {
	// Op is the operation: "open", "write", "read", "delete", "attributes",
	// "sign", or a step of Test.
	Op string
	// Bucket is "VENDOR:BUCKET".
	Bucket string
	// Key is the object key, if any.
	Key string
	// Kind is ErrBadCredentials, ErrNoSuchBucket, ... or nil when unknown.
	Kind error
	// Err is the underlying error.
	Err error
}

// Error implements error.
func (e *OpError) Error() string {
	var b strings.Builder
	b.WriteString("storage: ")
	b.WriteString(e.Op)
	if e.Key != "" {
		fmt.Fprintf(&b, " %q", e.Key)
	}
	if e.Bucket != "" {
		b.WriteString(" in ")
		b.WriteString(e.Bucket)
	}
	b.WriteString(": ")
	if e.Kind != nil && e.Kind != errServer {
		b.WriteString(e.Kind.Error())
		if hint := hintFor(e.Kind); hint != "" {
			b.WriteString(" (")
			b.WriteString(hint)
			b.WriteString(")")
		}
		b.WriteString(": ")
	}
	b.WriteString(describe(e.Err))
	return b.String()
}

// Unwrap lets errors.Is match Kind and anything in Err.
func (e *OpError) Unwrap() []error {
	if e.Kind == nil || e.Kind == errServer {
		return []error{e.Err}
	}
	return []error{e.Kind, e.Err}
}

func hintFor(kind error) string {
	switch kind {
	case ErrBadCredentials:
		return "check the access key, secret, service key or connection string"
	case ErrPermissionDenied:
		return "the credentials are valid; grant them put, get, tag and delete on the bucket"
	case ErrNoSuchBucket:
		return "check the bucket name and region, or create the bucket"
	case ErrWrongRegion:
		return "set the region the bucket was created in"
	case ErrUnreachable:
		return "check the endpoint, the network and the firewall"
	case ErrEgressRefused:
		return "the endpoint resolves to an address outbound connections may not reach; an operator may allow it"
	}
	return ""
}

func opError(op, bucket, key string, err error) error {
	if err == nil {
		return nil
	}
	var oe *OpError
	if errors.As(err, &oe) && oe.Op == op {
		return err
	}
	kind, _ := classify(err)
	return &OpError{Op: op, Bucket: bucket, Key: key, Kind: kind, Err: err}
}

// noted puts our own words in front of a vendor error, in a form describe
// keeps (a plain fmt.Errorf wrapper would be dropped with the vendor's text).
type noted struct {
	note string
	err  error
}

func (n *noted) Error() string { return n.note + ": " + n.err.Error() }
func (n *noted) Unwrap() error { return n.err }

// describe returns a short, secret-free description of a vendor error.
func describe(err error) string {
	if err == nil {
		return "<nil>"
	}
	var n *noted
	if errors.As(err, &n) {
		return scrub(n.note) + ": " + describe(n.err)
	}
	var oe *OpError
	if errors.As(err, &oe) {
		return scrub(oe.Error())
	}
	var refused *egress.RefusedError
	if errors.As(err, &refused) {
		return refused.Error() // an address and a range: nothing to scrub
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		s := ae.ErrorCode()
		var hre *awshttp.ResponseError
		if errors.As(err, &hre) {
			s = fmt.Sprintf("HTTP %d %s", hre.HTTPStatusCode(), s)
		}
		if m := ae.ErrorMessage(); m != "" {
			s += ": " + m
		}
		return scrub(s)
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		s := fmt.Sprintf("HTTP %d %s", re.StatusCode, re.ErrorCode)
		return scrub(s)
	}
	var rerr *oauth2.RetrieveError
	if errors.As(err, &rerr) {
		s := "token endpoint refused the service key"
		if rerr.Response != nil {
			s += fmt.Sprintf(": HTTP %d", rerr.Response.StatusCode)
		}
		code, desc := rerr.ErrorCode, rerr.ErrorDescription
		if code == "" {
			// The JWT flow does not parse the body: {"error": ..., "error_description": ...}.
			var body struct {
				Error            string `json:"error"`
				ErrorDescription string `json:"error_description"`
			}
			if json.Unmarshal(rerr.Body, &body) == nil {
				code, desc = body.Error, body.ErrorDescription
			}
		}
		if code != "" {
			s += " " + code
		}
		if desc != "" {
			s += ": " + desc
		}
		return scrub(s)
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return scrub(fmt.Sprintf("HTTP %d: %s", ge.Code, ge.Message))
	}
	// A transport failure: the URL and the network error say it all.
	var ue *url.Error
	if errors.As(err, &ue) {
		return scrub(ue.Error())
	}
	return scrub(err.Error())
}

var (
	urlQuery = regexp.MustCompile(`((?:https?|s3|gs|azblob)://[^\s?"']*)\?[^\s"']*`)
	// Key=value pairs that may carry a credential in an echoed connection
	// string or header.
	secretPairs = regexp.MustCompile(`(?i)((?:AccountKey|SharedAccessSignature|sig|X-Amz-Signature|X-Amz-Credential|Signature|Credential|private_key|secret)\s*[=:]\s*)[^\s;&,"']+`)
)

// scrub removes query strings (signatures, SAS tokens) and credential-like
// pairs from a message.
func scrub(s string) string {
	s = urlQuery.ReplaceAllString(s, "$1?[REDACTED]")
	return secretPairs.ReplaceAllString(s, "${1}[REDACTED]")
}
