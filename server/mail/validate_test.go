package mail

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEnqueueRefusesInvalidMessages(t *testing.T) {
	good := Message{To: "anne@example.fr", Subject: "Code", Text: "123456", HTML: "<b>123456</b>", Lang: "fr", Kind: "recovery_code", AccountID: "p001"}
	tests := []struct {
		name string
		edit func(*Message)
		ok   bool
	}{
		{"good", func(*Message) {}, true},
		{"display name", func(m *Message) { m.To = `"Durand, Anne" <anne@example.fr>` }, true},
		{"accented display name", func(m *Message) { m.To = "Anne Lefèvre <anne@example.fr>" }, true},
		{"no language", func(m *Message) { m.Lang = "" }, true},
		{"regional language", func(m *Message) { m.Lang = "en-GB" }, true},
		{"CRLF and Bcc", func(m *Message) { m.To = "anne@example.fr\r\nBcc: eve@example.com" }, false},
		{"LF and Bcc", func(m *Message) { m.To = "anne@example.fr\nBcc: eve@example.com" }, false},
		{"CR alone", func(m *Message) { m.To = "anne@example.fr\rBcc: eve@example.com" }, false},
		{"encoded CRLF in display name", func(m *Message) { m.To = "=?utf-8?q?Anne=0D=0ABcc:_eve@example.com?= <anne@example.fr>" }, false},
		{"NUL", func(m *Message) { m.To = "anne@example.fr\x00" }, false},
		{"two addresses", func(m *Message) { m.To = "anne@example.fr, eve@example.com" }, false},
		{"two addresses with semicolon", func(m *Message) { m.To = "anne@example.fr; eve@example.com" }, false},
		{"group", func(m *Message) { m.To = "parents: anne@example.fr, eve@example.com;" }, false},
		{"empty recipient", func(m *Message) { m.To = "" }, false},
		{"not an address", func(m *Message) { m.To = "anne" }, false},
		{"subject with a line break", func(m *Message) { m.Subject = "Code\r\nBcc: eve@example.com" }, false},
		{"empty subject", func(m *Message) { m.Subject = " " }, false},
		{"no text part", func(m *Message) { m.Text = "" }, false},
		{"no HTML part", func(m *Message) { m.HTML = "" }, false},
		{"huge body", func(m *Message) { m.Text = strings.Repeat("x", maxBody+1) }, false},
		{"no kind", func(m *Message) { m.Kind = "" }, false},
		{"kind with a space", func(m *Message) { m.Kind = "recovery code" }, false},
		{"bad language", func(m *Message) { m.Lang = "fr\n" }, false},
		{"account id with a line break", func(m *Message) { m.AccountID = "p001\nforged log line" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newMemStore()
			ob := NewOutbox(st, testSecret, time.Now, nil)
			m := good
			tt.edit(&m)
			id, err := ob.Enqueue(context.Background(), m)
			if tt.ok {
				if err != nil || id == "" || len(st.msgs) != 1 {
					t.Fatalf("Enqueue = %q, %v", id, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidMessage) {
				t.Fatalf("Enqueue error = %v; want ErrInvalidMessage", err)
			}
			if len(st.msgs) != 0 {
				t.Error("an invalid message was stored")
			}
			if strings.Contains(err.Error(), "eve@") {
				t.Errorf("the error repeats the recipient: %v", err)
			}
		})
	}
}
