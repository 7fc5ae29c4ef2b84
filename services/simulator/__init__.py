"""The player-fleet simulator: simulated subscribers who browse, watch and leave, over gRPC only."""
