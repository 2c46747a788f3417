package mailtest

import (
	"net/smtp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestServerRecordsAndWaits(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	if _, err := s.WaitMessages(1, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "got 0 messages") {
		t.Fatalf("WaitMessages on an empty server: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		done <- smtp.SendMail(s.Addr, nil, "a@example.com", []string{"b@example.com"},
			[]byte("Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\nhello\r\n"))
	}()
	msgs, err := s.WaitMessages(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	if m.From != "a@example.com" || m.To[0] != "b@example.com" || m.Subject != "café" || m.Text != "hello" {
		t.Errorf("recorded %+v", m)
	}
	s.Stop()
	s.Stop() // idempotent
	if len(s.Messages()) != 1 {
		t.Error("messages lost on Stop")
	}
}
