package web

import (
	"strconv"
	"strings"
	"time"

	"github.com/sesame-edu/sesame/server/helpdesk"
	"github.com/sesame-edu/sesame/server/i18n"
)

// Formatting shared by the pages: office hours, dates and times in the
// person's language and the school's time zone.

// statusLine words the desk's state: open until when, or closed until when.
func (s *Server) statusLine(t *i18n.Localizer, st helpdesk.Status, now time.Time) string {
	switch {
	case !st.Known:
		return ""
	case st.Open:
		return t.T("help.open_until", "Time", t.Clock(st.ClosesAt))
	case st.NextOpen.IsZero():
		return t.T("help.closed")
	}
	when := s.when(t, st.NextOpen, now)
	if st.Closure != nil && st.Closure.LabelText(t.Lang()) != "" {
		return t.T("help.closed_for_next", "Closure", st.Closure.LabelText(t.Lang()), "When", when)
	}
	return t.T("help.closed_next", "When", when)
}

// when says "today at 14 h 00", "tomorrow at …" or "Tuesday 1 December at …".
func (s *Server) when(t *i18n.Localizer, at, now time.Time) string {
	at = at.In(s.loc)
	y1, m1, d1 := now.Date()
	y2, m2, d2 := at.Date()
	tomorrow := time.Date(y1, m1, d1+1, 0, 0, 0, 0, s.loc)
	switch {
	case y1 == y2 && m1 == m2 && d1 == d2:
		return t.T("help.today_at", "Time", t.Clock(at))
	case tomorrow.Year() == y2 && tomorrow.Month() == m2 && tomorrow.Day() == d2:
		return t.T("help.tomorrow_at", "Time", t.Clock(at))
	}
	return t.T("help.when",
		"Day", t.T("day."+strconv.Itoa(int(at.Weekday()))),
		"Date", t.T("date.day_month", "Day", d2, "Month", t.T("month."+strconv.Itoa(int(m2)))),
		"Time", t.Clock(at))
}

func (s *Server) longDate(t *i18n.Localizer, isoDate string) string {
	d, err := time.ParseInLocation(time.DateOnly, isoDate, s.loc)
	if err != nil {
		return isoDate
	}
	return t.T("date.day_month_year", "Day", d.Day(), "Month", t.T("month."+strconv.Itoa(int(d.Month()))), "Year", d.Year())
}

func hoursRange(t *i18n.Localizer, from, to string) string {
	parse := func(hm string) string {
		at, err := time.Parse("15:04", hm)
		if err != nil {
			return hm
		}
		return t.Clock(at)
	}
	return parse(from) + " – " + parse(to)
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	return strings.ToUpper(string(r[0])) + string(r[1:])
}
