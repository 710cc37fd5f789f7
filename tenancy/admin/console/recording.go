package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// Call recording configuration (seed 000): WAV or MP3, the bucket by vendor
// with its fields, and Test, which runs the API's probe (write, read back,
// delete) on the configuration in the form, saved or not.

type recordingView struct {
	SID       tenancy.SID
	Revision  int64
	Config    tenancy.RecordingConfig
	Vendors   []option
	Tags      map[string]string // vendor → "name=value" lines
	CanEdit   bool
	URLEdit   bool // the member may set a bucket URL
	Test      *admin.BucketTestResult
	TestError string
}

func (c *Console) recording(q *req) {
	sid, ok := q.needAccount("Recording", "recording")
	if !ok {
		return
	}
	rs, err := c.adminClient().Recording(q.ctx, sid)
	if err != nil {
		q.apiFailed("message", "Recording", "recording", messageView{Heading: "Recording"}, err)
		return
	}
	c.renderRecording(q, http.StatusOK, sid, rs.Revision, rs.RecordingConfig, nil, nil)
}

func (c *Console) renderRecording(q *req, status int, sid tenancy.SID, rev int64, rc tenancy.RecordingConfig, test *admin.BucketTestResult, p *problemView) {
	v := recordingView{SID: sid, Revision: rev, Config: rc, Test: test, Tags: map[string]string{},
		CanEdit: q.may(rbac.EntityOrganization, rbac.ActionUpdate),
		URLEdit: c.fields.editable(q.p.Scope, "RecordingConfig", "bucket_url")}
	fileOK := c.fields.editable(q.p.Scope, "BucketConfig", "file")
	for _, vd := range bucketconfig.Vendors() {
		if vd == bucketconfig.VendorFile && !fileOK && rc.Bucket.Vendor != vd {
			continue
		}
		v.Vendors = append(v.Vendors, option{Value: string(vd), Label: vd.Title(), Selected: rc.Bucket.Vendor == vd})
	}
	b := rc.Bucket
	for vendor, tags := range map[string]bucketconfig.Tags{
		"s3": tagsOf(b.S3 != nil, func() bucketconfig.Tags { return b.S3.Tags }), "s3c": tagsOf(b.S3Compatible != nil, func() bucketconfig.Tags { return b.S3Compatible.Tags }),
		"gcs": tagsOf(b.GCS != nil, func() bucketconfig.Tags { return b.GCS.Tags }), "azure": tagsOf(b.Azure != nil, func() bucketconfig.Tags { return b.Azure.Tags }),
		"file": tagsOf(b.File != nil, func() bucketconfig.Tags { return b.File.Tags }), "memory": tagsOf(b.Memory != nil, func() bucketconfig.Tags { return b.Memory.Tags }),
	} {
		v.Tags[vendor] = formatTags(tags)
	}
	// Empty sections so the template can read every vendor's fields.
	if v.Config.Bucket.S3 == nil {
		v.Config.Bucket.S3 = &bucketconfig.S3{}
	}
	if v.Config.Bucket.S3Compatible == nil {
		v.Config.Bucket.S3Compatible = &bucketconfig.S3Compatible{}
	}
	if v.Config.Bucket.GCS == nil {
		v.Config.Bucket.GCS = &bucketconfig.GCS{}
	}
	if v.Config.Bucket.Azure == nil {
		v.Config.Bucket.Azure = &bucketconfig.Azure{}
	}
	if v.Config.Bucket.File == nil {
		v.Config.Bucket.File = &bucketconfig.File{}
	}
	q.page(status, "recording", "Recording", "recording", v, p)
}

func tagsOf(ok bool, f func() bucketconfig.Tags) bucketconfig.Tags {
	if !ok {
		return nil
	}
	return f()
}

// formatTags writes tags as the "name=value" lines parseTags reads.
func formatTags(tags bucketconfig.Tags) string {
	lines := make([]string, 0, len(tags))
	for _, t := range tags {
		lines = append(lines, t.Name+"="+t.Value)
	}
	return strings.Join(lines, "\n")
}

// parseTags reads "name=value" lines: blank lines are skipped, spaces
// around a line, a name and a value are trimmed, and a line without "="
// is a name with an empty value.
func parseTags(text string) bucketconfig.Tags {
	var out bucketconfig.Tags
	for l := range strings.Lines(text) {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		k, v, _ := strings.Cut(l, "=")
		out = append(out, bucketconfig.Tag{Name: strings.TrimSpace(k), Value: strings.TrimSpace(v)})
	}
	return out
}

// recordingFromForm builds the configuration the form describes. A secret
// left empty keeps the stored one (the API keeps a stored secret for an
// empty or masked value).
func recordingFromForm(f url.Values, cur tenancy.RecordingConfig) tenancy.RecordingConfig {
	rc := tenancy.RecordingConfig{
		Enabled: f.Get("enabled") != "", RecordAllCalls: f.Get("record_all_calls") != "",
		Format: tenancy.AudioFormat(f.Get("format")), BucketURL: cur.BucketURL,
	}
	if v, ok := f["bucket_url"]; ok {
		rc.BucketURL = strings.TrimSpace(v[0])
	}
	submitted := func(name string, stored secret.String) secret.String {
		if v := f.Get(name); v != "" {
			return secret.String(v)
		}
		return stored
	}
	cb := cur.Bucket
	b := bucketconfig.Config{Vendor: bucketconfig.Vendor(f.Get("vendor"))}
	switch b.Vendor {
	case bucketconfig.VendorS3:
		var stored secret.String
		if cb.S3 != nil {
			stored = cb.S3.SecretAccessKey
		}
		b.S3 = &bucketconfig.S3{Bucket: strings.TrimSpace(f.Get("s3.bucket")), Region: strings.TrimSpace(f.Get("s3.region")),
			AccessKeyID: strings.TrimSpace(f.Get("s3.access_key_id")), SecretAccessKey: submitted("s3.secret_access_key", stored), Tags: parseTags(f.Get("s3.tags"))}
	case bucketconfig.VendorS3Compatible:
		var stored secret.String
		if cb.S3Compatible != nil {
			stored = cb.S3Compatible.SecretAccessKey
		}
		b.S3Compatible = &bucketconfig.S3Compatible{Endpoint: strings.TrimSpace(f.Get("s3c.endpoint")), PathStyle: f.Get("s3c.path_style") != "",
			Bucket: strings.TrimSpace(f.Get("s3c.bucket")), Region: strings.TrimSpace(f.Get("s3c.region")),
			AccessKeyID: strings.TrimSpace(f.Get("s3c.access_key_id")), SecretAccessKey: submitted("s3c.secret_access_key", stored), Tags: parseTags(f.Get("s3c.tags"))}
	case bucketconfig.VendorGCS:
		var stored secret.String
		if cb.GCS != nil {
			stored = cb.GCS.ServiceKey
		}
		b.GCS = &bucketconfig.GCS{Bucket: strings.TrimSpace(f.Get("gcs.bucket")), ServiceKey: submitted("gcs.service_key", stored),
			Endpoint: strings.TrimSpace(f.Get("gcs.endpoint")), Tags: parseTags(f.Get("gcs.tags"))}
	case bucketconfig.VendorAzure:
		var stored secret.String
		if cb.Azure != nil {
			stored = cb.Azure.ConnectionString
		}
		b.Azure = &bucketconfig.Azure{Container: strings.TrimSpace(f.Get("azure.container")), ConnectionString: submitted("azure.connection_string", stored),
			Tags: parseTags(f.Get("azure.tags"))}
	case bucketconfig.VendorFile:
		b.File = &bucketconfig.File{Dir: strings.TrimSpace(f.Get("file.dir")), Tags: parseTags(f.Get("file.tags"))}
	case bucketconfig.VendorMemory:
		b.Memory = &bucketconfig.Memory{Tags: parseTags(f.Get("memory.tags"))}
	case "":
		b = bucketconfig.Config{}
	}
	rc.Bucket = b
	if rc.BucketURL != "" && f.Get("vendor") == "" {
		rc.Bucket = bucketconfig.Config{}
	}
	return rc
}

func (c *Console) saveRecording(q *req) {
	sid, ok := q.needAccount("Recording", "recording")
	if !ok {
		return
	}
	cl := c.adminClient()
	cur, err := cl.Recording(q.ctx, sid)
	if err != nil {
		q.apiFailed("message", "Recording", "recording", messageView{Heading: "Recording"}, err)
		return
	}
	f := q.r.PostForm
	rc := recordingFromForm(f, cur.RecordingConfig)
	patch := admin.RecordingPatch{Enabled: &rc.Enabled, Format: &rc.Format, RecordAllCalls: &rc.RecordAllCalls, Bucket: &rc.Bucket}
	if rc.BucketURL != cur.BucketURL {
		patch.BucketURL = &rc.BucketURL
	}
	rev, _ := strconv.ParseInt(f.Get("revision"), 10, 64)
	if _, err := cl.UpdateRecording(q.ctx, sid, patch, rev); err != nil {
		c.renderRecording(q, http.StatusOK, sid, cur.Revision, rc, nil, problemOf(err))
		return
	}
	q.done(q.accountPath("recording", sid), &flash{OK: true, Text: "Recording configuration saved."})
}

// testRecording runs the API's bucket probe on the form's configuration and
// shows its result beside the form.
func (c *Console) testRecording(q *req) {
	sid, ok := q.needAccount("Recording", "recording")
	if !ok {
		return
	}
	cl := c.adminClient()
	cur, err := cl.Recording(q.ctx, sid)
	if err != nil {
		q.apiFailed("message", "Recording", "recording", messageView{Heading: "Recording"}, err)
		return
	}
	rc := recordingFromForm(q.r.PostForm, cur.RecordingConfig)
	res, err := cl.TestRecording(q.ctx, sid, &rc)
	if err != nil {
		c.renderRecording(q, http.StatusOK, sid, cur.Revision, rc, nil, problemOf(err))
		return
	}
	c.renderRecording(q, http.StatusOK, sid, cur.Revision, rc, res, nil)
}
