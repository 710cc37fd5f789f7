package console

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/tenancy"
)

// Call attached data (seed 002): field names and the session variables
// that fill them, replaced as a whole.

type cadView struct {
	SID      tenancy.SID
	Revision int64
	Rows     []tenancy.CADField
	CanEdit  bool
}

// blankCADRows are the empty rows offered for new fields.
const blankCADRows = 3

func (c *Console) cad(q *req) {
	sid, ok := q.needAccount("Call attached data", "cad")
	if !ok {
		return
	}
	d, err := c.adminClient().CallAttachedData(q.ctx, sid)
	if err != nil {
		q.apiFailed("message", "Call attached data", "cad", messageView{Heading: "Call attached data"}, err)
		return
	}
	c.renderCAD(q, http.StatusOK, sid, d.Revision, d.Fields, nil)
}

func (c *Console) renderCAD(q *req, status int, sid tenancy.SID, rev int64, rows []tenancy.CADField, p *problemView) {
	v := cadView{SID: sid, Revision: rev, CanEdit: q.may(rbac.EntityOrganization, rbac.ActionUpdate)}
	v.Rows = append(v.Rows, rows...)
	if v.CanEdit {
		for range blankCADRows {
			v.Rows = append(v.Rows, tenancy.CADField{})
		}
	}
	q.page(status, "cad", "Call attached data", "cad", v, p)
}

// saveCAD replaces the fields with the form's non-empty rows (a row whose
// name is emptied is removed).
func (c *Console) saveCAD(q *req) {
	sid, ok := q.needAccount("Call attached data", "cad")
	if !ok {
		return
	}
	f := q.r.PostForm
	names, values := f["name"], f["value"]
	fields := []tenancy.CADField{}
	for i := range names {
		n := strings.TrimSpace(names[i])
		v := ""
		if i < len(values) {
			v = strings.TrimSpace(values[i])
		}
		if n == "" && v == "" {
			continue
		}
		fields = append(fields, tenancy.CADField{Name: n, Value: v})
	}
	rev, _ := strconv.ParseInt(f.Get("revision"), 10, 64)
	if _, err := c.adminClient().SetCallAttachedData(q.ctx, sid, fields, rev); err != nil {
		c.renderCAD(q, http.StatusOK, sid, rev, fields, problemOf(err))
		return
	}
	q.done(q.accountPath("cad", sid), &flash{OK: true, Text: "Call attached data saved."})
}
