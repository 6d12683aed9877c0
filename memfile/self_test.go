package memfile

import "github.com/shmx/shmx/internal/live"

// selfToken is this test process's token, as the protocols see it
// outside the explorer.
var selfToken = live.Self()
