package flow

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // schedules must not depend on the host's zone files

	"github.com/robfig/cron/v3"
)

// cronParser reads five fields, or six with seconds first, and descriptors
// such as @hourly.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// cronProbe is the time from which a cron expression must fire at least
// once (robfig/cron gives up after five years).
var cronProbe = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// parseCron parses a cron expression; the error is a problem message.
func parseCron(spec string) (sched cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("%q is not a cron expression", spec)
		}
	}()
	s := strings.TrimSpace(spec)
	switch {
	case s == "":
		return nil, errors.New("must not be empty; write five fields such as \"0 9 * * 1-5\"")
	case strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ="):
		return nil, errors.New("set the zone with timezone, not inside cron")
	case strings.HasPrefix(s, "@every"):
		return nil, errors.New("use every (such as every: 15m) instead of @every")
	}
	sched, err = cronParser.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a cron expression (%w); write five fields (minute hour day-of-month month day-of-week) such as \"0 9 * * 1-5\", six with seconds first, or @hourly, @daily, @weekly, @monthly, @yearly", spec, err)
	}
	if sched.Next(cronProbe).IsZero() {
		return nil, fmt.Errorf("%q never fires", spec)
	}
	return sched, nil
}

// loadZone loads an IANA time zone; an empty name is UTC.
func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "UTC" {
		return time.UTC, nil
	}
	if name == "Local" {
		return nil, errors.New("name the zone, such as Europe/Paris; Local depends on the server")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q; use an IANA name such as Europe/Paris or America/New_York", name)
	}
	return loc, nil
}

// Next returns when a schedule trigger fires next after the given time: the
// next match of its cron expression read in its timezone, or after plus
// its every interval. It fails for other trigger types and for a schedule
// that Parse would reject.
func (t Trigger) Next(after time.Time) (time.Time, error) {
	if t.Type != TriggerSchedule {
		return time.Time{}, fmt.Errorf("next fire time: %s trigger has no schedule", t.Type)
	}
	switch {
	case t.Cron != "" && t.Every != 0:
		return time.Time{}, errors.New("next fire time: schedule has both cron and every")
	case t.Every != 0:
		if t.Every < Duration(time.Second) {
			return time.Time{}, fmt.Errorf("next fire time: every %s is shorter than 1s", time.Duration(t.Every))
		}
		return after.Add(time.Duration(t.Every)), nil
	case t.Cron != "":
		loc, err := loadZone(t.Timezone)
		if err != nil {
			return time.Time{}, fmt.Errorf("next fire time: %w", err)
		}
		sched, err := parseCron(t.Cron)
		if err != nil {
			return time.Time{}, fmt.Errorf("next fire time: %w", err)
		}
		next := sched.Next(after.In(loc))
		if next.IsZero() {
			return time.Time{}, fmt.Errorf("next fire time: %q does not fire again", t.Cron)
		}
		return next, nil
	}
	return time.Time{}, errors.New("next fire time: schedule has neither cron nor every")
}
