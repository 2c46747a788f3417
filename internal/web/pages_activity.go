package web

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/sluice/sluice/internal/store"
)

// maxActivity caps the activity feed's page.
const maxActivity = 50

// activityPage is the notification feed.
type activityPage struct {
	base
	Notes []store.Notification
}

// activity answers GET /activity: the newest notifications (one range of
// notifications_user).
func (p *portal) activity(w http.ResponseWriter, r *http.Request, c *call) error {
	notes, err := p.st.ListNotifications(r.Context(), c.user.ID, false, maxActivity)
	if err != nil {
		return fmt.Errorf("activity: %w", err)
	}
	p.render(w, http.StatusOK, "activity", activityPage{base: c.base("Activity", "activity"), Notes: notes})
	return nil
}

// markRead answers POST /activity/read: the notification id= given, or
// all of them without one.
func (p *portal) markRead(w http.ResponseWriter, r *http.Request, c *call) error {
	var ids []int64
	if v := r.PostFormValue("id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return pageErr(http.StatusBadRequest, "No such notification", "Go back to Activity and try again.")
		}
		ids = append(ids, id)
	}
	if err := p.st.MarkRead(r.Context(), c.user.ID, ids); err != nil {
		return fmt.Errorf("mark read: %w", err)
	}
	http.Redirect(w, r, "/activity", http.StatusSeeOther)
	return nil
}
