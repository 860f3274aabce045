package web

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/frontend/views"
	"github.com/sesame-edu/sesame/server/helpdesk"
	"github.com/sesame-edu/sesame/server/i18n"
	"github.com/sesame-edu/sesame/server/school"
)

// helpPage shows a help desk: the support desk at /help, a population's
// own at /help/:population. It says whether the desk is open now and when
// it next opens, in the school's time zone.
func (s *Server) helpPage(c *fiber.Ctx) error {
	t := s.t(c)
	contact, heading := s.school.Support, t.T("help.title")
	key := c.Params("population")
	if key != "" {
		p, ok := s.school.Population(key)
		if !ok || !s.school.NeedsChooser() {
			return fiber.ErrNotFound
		}
		contact = *p.Help
		heading = t.T("help.title_population", "Label", school.Text(p.Label, t.Lang()))
	}
	p := views.HelpProps{
		Base:    s.page(c, heading),
		Heading: heading,
		Text:    contact.Text(t.Lang()),
		Email:   contact.Email,
		Phone:   contact.Phone,
		URL:     contact.URL,
	}
	if contact.Phone != "" {
		p.PhoneHref = "tel:" + strings.Map(func(r rune) rune {
			if r == '+' || r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, contact.Phone)
	}
	now := s.now().In(s.loc)
	st := contact.Hours.Status(now, s.loc)
	p.Known, p.Open, p.StatusLine = st.Known, st.Open, s.statusLine(t, st, now)
	for _, w := range contact.Hours.Week() {
		slot := views.HelpSlot{
			Day:   capitalise(t.T("day." + strconv.Itoa(int(w.Weekday)))),
			Hours: hoursRange(t, w.From, w.To),
		}
		if len(w.Months) > 0 {
			var ms []string
			for _, m := range w.Months {
				ms = append(ms, t.T("month."+strconv.Itoa(m)))
			}
			slot.Note = t.T("help.only_months", "Months", strings.Join(ms, ", "))
		}
		p.Week = append(p.Week, slot)
	}
	today := now.Format(time.DateOnly)
	for _, cl := range contact.Hours.Closures {
		if cl.To < today {
			continue // past holidays are of no use to anyone
		}
		from, to := s.longDate(t, cl.From), s.longDate(t, cl.To)
		if label := cl.LabelText(t.Lang()); label != "" {
			p.Closures = append(p.Closures, t.T("help.closure_range", "Label", label, "From", from, "To", to))
		} else {
			p.Closures = append(p.Closures, t.T("help.closure_range_nolabel", "From", from, "To", to))
		}
	}
	if key == "" && s.school.NeedsChooser() {
		for _, pop := range s.school.Populations {
			if pop.Help != nil && pop.Help.Email != s.school.Support.Email {
				p.Others = append(p.Others, views.Choice{Href: "/help/" + pop.Key, Label: school.Text(pop.Label, t.Lang())})
			}
		}
	}
	return render(c, fiber.StatusOK, views.Help(p))
}

// statusLine words the desk's state: open until when, or closed until when.
func (s *Server) statusLine(t *i18n.Localizer, st helpdesk.Status, now time.Time) string {
	switch {
	case !st.Known:
		return ""
	case st.Open:
		return t.T("help.open_until", "Time", clock(t, st.ClosesAt))
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
		return t.T("help.today_at", "Time", clock(t, at))
	case tomorrow.Year() == y2 && tomorrow.Month() == m2 && tomorrow.Day() == d2:
		return t.T("help.tomorrow_at", "Time", clock(t, at))
	}
	return t.T("help.when",
		"Day", t.T("day."+strconv.Itoa(int(at.Weekday()))),
		"Date", t.T("date.day_month", "Day", d2, "Month", t.T("month."+strconv.Itoa(int(m2)))),
		"Time", clock(t, at))
}

func (s *Server) longDate(t *i18n.Localizer, isoDate string) string {
	d, err := time.ParseInLocation(time.DateOnly, isoDate, s.loc)
	if err != nil {
		return isoDate
	}
	return t.T("date.day_month_year", "Day", d.Day(), "Month", t.T("month."+strconv.Itoa(int(d.Month()))), "Year", d.Year())
}

func clock(t *i18n.Localizer, at time.Time) string {
	return t.T("time.hm", "H", fmt.Sprintf("%02d", at.Hour()), "M", fmt.Sprintf("%02d", at.Minute()))
}

func hoursRange(t *i18n.Localizer, from, to string) string {
	parse := func(hm string) string {
		at, err := time.Parse("15:04", hm)
		if err != nil {
			return hm
		}
		return clock(t, at)
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
