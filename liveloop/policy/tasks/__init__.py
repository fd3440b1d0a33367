"""Simulated tasks for the diffusion policy: reach-and-grasp (liveloop's own) and Push-T."""
