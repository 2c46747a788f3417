package flow

import (
	"testing"
	"time"
)

func TestTriggerNext(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	after := time.Date(2025, 3, 28, 12, 0, 0, 0, time.UTC) // a Friday
	cases := []struct {
		name    string
		trigger Trigger
		want    time.Time
	}{
		{"cron in a zone", Trigger{Type: TriggerSchedule, Cron: "30 8 * * 1-5", Timezone: "Europe/Paris"}, time.Date(2025, 3, 31, 8, 30, 0, 0, paris)},
		{"cron in UTC", Trigger{Type: TriggerSchedule, Cron: "0 * * * *"}, time.Date(2025, 3, 28, 13, 0, 0, 0, time.UTC)},
		{"cron with seconds", Trigger{Type: TriggerSchedule, Cron: "15 0 12 * * *"}, time.Date(2025, 3, 28, 12, 0, 15, 0, time.UTC)},
		{"descriptor", Trigger{Type: TriggerSchedule, Cron: "@daily"}, time.Date(2025, 3, 29, 0, 0, 0, 0, time.UTC)},
		{"every", Trigger{Type: TriggerSchedule, Every: Duration(15 * time.Minute)}, after.Add(15 * time.Minute)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.trigger.Next(after)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tc.want) {
				t.Errorf("Next = %s, want %s", got, tc.want)
			}
		})
	}
	for _, bad := range []Trigger{
		{Type: TriggerWebhook},
		{Type: TriggerSchedule},
		{Type: TriggerSchedule, Cron: "nope"},
		{Type: TriggerSchedule, Cron: "TZ=UTC"},
		{Type: TriggerSchedule, Cron: "@daily", Timezone: "Nowhere/Else"},
		{Type: TriggerSchedule, Cron: "@daily", Every: Duration(time.Minute)},
	} {
		if _, err := bad.Next(after); err == nil {
			t.Errorf("Next(%+v) succeeded, want an error", bad)
		}
	}
}

func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	three := 3
	cases := []struct {
		name   string
		action Action
		want   Retry
	}{
		{"http default", Action{Type: ActionHTTP}, Retry{Policy: RetryExponential, Count: ptr(4), Interval: Duration(2 * time.Second), MaxInterval: Duration(time.Hour)}},
		{"partial", Action{Type: ActionEmail, Retry: &Retry{Policy: RetryFixed, Count: &three}}, Retry{Policy: RetryFixed, Count: ptr(3), Interval: Duration(2 * time.Second), MaxInterval: Duration(time.Hour)}},
		{"none", Action{Type: ActionHTTP, Retry: &Retry{Policy: RetryNone}}, Retry{Policy: RetryNone, Count: ptr(0), Interval: Duration(2 * time.Second), MaxInterval: Duration(time.Hour)}},
		{"compose never retries", Action{Type: ActionCompose}, Retry{Policy: RetryNone, Count: ptr(0)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.action.RetryPolicy()
			if got.Policy != tc.want.Policy || *got.Count != *tc.want.Count || got.Interval != tc.want.Interval || got.MaxInterval != tc.want.MaxInterval {
				t.Errorf("RetryPolicy = %+v (count %d), want %+v (count %d)", got, *got.Count, tc.want, *tc.want.Count)
			}
		})
	}
}

func ptr(n int) *int { return &n }

func TestBackoff(t *testing.T) {
	t.Parallel()
	exp := Retry{Policy: RetryExponential, Interval: Duration(2 * time.Second), MaxInterval: Duration(10 * time.Second)}
	fixed := Retry{Policy: RetryFixed, Interval: Duration(5 * time.Second), MaxInterval: Duration(time.Hour)}
	cases := []struct {
		name       string
		r          Retry
		n          int
		retryAfter time.Duration
		want       time.Duration
	}{
		{"first", exp, 1, 0, 2 * time.Second},
		{"third", exp, 3, 0, 8 * time.Second},
		{"capped", exp, 10, 0, 10 * time.Second},
		{"huge n", exp, 1 << 30, 0, 10 * time.Second},
		{"fixed", fixed, 7, 0, 5 * time.Second},
		{"retry-after", exp, 1, 7 * time.Second, 7 * time.Second},
		{"retry-after capped", exp, 1, time.Hour, 10 * time.Second},
	}
	for _, tc := range cases {
		if got := tc.r.Backoff(tc.n, tc.retryAfter); got != tc.want {
			t.Errorf("%s: Backoff(%d, %s) = %s, want %s", tc.name, tc.n, tc.retryAfter, got, tc.want)
		}
	}
}

func TestFromCanonicalRejects(t *testing.T) {
	t.Parallel()
	for _, b := range []string{``, `{`, `{"actions":[null]}`, `{"name":"a"} {}`, `{"trigger":{"every":"soon"}}`} {
		if _, err := FromCanonical([]byte(b)); err == nil {
			t.Errorf("FromCanonical(%q) succeeded, want an error", b)
		}
	}
}
