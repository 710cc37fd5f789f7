package console

import "net/http"

func (c *Console) dashboard(q *req) {
	q.page(http.StatusOK, "dashboard", "Dashboard", "dashboard", nil, nil)
}
