"""liveloop.policy — a diffusion policy with the Real-Time Iteration scheme (RTI-DP). See DESIGN.md §4.

==================  ====================================================================
module              what
==================  ====================================================================
tasks/reach_grasp   liveloop's own task: a 2-D point robot catches a moving target around
                    an obstacle (two routes) and grasps it; sans-I/O, NumPy; its expert
tasks/pusht         Push-T (gym-pusht, state observations) and a planning scripted pusher
                    (one push at a time, checked in a second env)
normalizer          the policy's own min/max normaliser (a gripper optionally scaled ×0.1)
unet                1-D temporal conditional U-Net over action chunks (FiLM on obs + step)
schedulers          DDPM noise schedule; DDPM / DDIM reverse steps along any timestep list
model               `DiffusionPolicy`: network + normalisers + schedule + RTI settings;
                    checkpoints (``liveloop/policy/checkpoints/<name>.pt``) load by name
samplers            `FullSampler`: DDPM-100 or DDIM-k from noise every decision
rti                 `RtiSampler`: warm start from the previous chunk shifted one step,
                    ≤ 3 steps; K′ chosen offline (`choose_k_prime`); clip / scale variants
kprime              K′ by the task's rule: on the expert's consecutive chunks, or on the
                    policy's own (closed-loop DDIM-10 every step, validation seeds)
train               expert demonstrations → DDPM training with EMA (progress to a log);
                    a time budget (``--max-minutes``), demonstrations from a file
evaluate            batched closed-loop rollouts per sampler; batch-1 timing
node                `Policy` graph node: observations (latest-wins) → timed action chunks;
                    the number of denoising steps is the knob driven by the budget
cli                 ``liveloop policy train|eval|demos|kprime``
==================  ====================================================================

Shipped checkpoints: ``reach_grasp`` (gripper ±1) and ``reach_grasp_scale``
(gripper trained at ±0.1, for RTI-scale), each 3000 steps on this CPU in
under an hour; ``pusht`` (U-Net 64/128, 600 expert episodes, 6695 steps of
batch 1024 in 4 min on one H200 — on this 2-core CPU the same run takes
hours: ≈ 2–4 s per step). Each records the command that reproduces it in
``DiffusionPolicy.meta["command"]`` and how its K′ was picked in
``meta["k_prime_rule"]`` (``liveloop policy kprime`` re-picks it).
"""
