package memfile

// BroadcastSubscriber is one held entry of a Broadcast's subscriber table.
type BroadcastSubscriber struct {
	Entry int
	// Token names the subscriber's process (internal/live); a MemFile's
	// Participants maps it to a pid and ProcessAlive says whether it lives.
	Token  uint32
	Cursor uint64 // sequence of the next message it reads
	Lag    uint64 // published messages it has not read
	Missed uint64 // messages it was lapped over, in total
}

// BroadcastState is a snapshot of a Broadcast, for inspection tools (see
// the notes at the top of inspect.go: word by word, stale at once).
type BroadcastState struct {
	Config    BroadcastConfig
	Published uint64 // the publisher's position: messages published so far
	// Publisher is the token of the process holding the publisher role,
	// 0 if none.
	Publisher uint32
	// PublisherAsleep says a publisher held back by back-pressure may
	// sleep; SubscribersAsleep that a subscriber may.
	PublisherAsleep, SubscribersAsleep bool
	Subscribers                        []BroadcastSubscriber
}

// State returns a snapshot of bc. It only loads, so it works on a copy of
// the ring's bytes or a read-only mapping (BroadcastAt validates them).
func (bc *Broadcast) State() BroadcastState {
	st := BroadcastState{
		Config:            bc.Config(),
		Published:         bc.tail.Load(),
		Publisher:         uint32(bc.role.Load() >> 32),
		PublisherAsleep:   bc.pubEpoch.Load()&ringSleeper != 0,
		SubscribersAsleep: bc.subEpoch.Load()&ringSleeper != 0,
	}
	for i := range bc.nsubs {
		e := bc.entry(i)
		w := e.owner.Load()
		if w == 0 {
			continue
		}
		s := BroadcastSubscriber{Entry: i, Token: uint32(w >> 32), Cursor: e.cursor.Load(), Missed: e.missed.Load()}
		if st.Published > s.Cursor {
			s.Lag = st.Published - s.Cursor
		}
		st.Subscribers = append(st.Subscribers, s)
	}
	return st
}
