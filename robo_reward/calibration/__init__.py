"""Camera calibration: ChArUco boards, intrinsics, extrinsics, hand-eye, and the calibration file schema.

Poses are 4x4 homogeneous matrices named `T_<to>_<from>`: `T_base_cam` maps points in the (OpenCV)
camera frame — x right, y down, z forward — into the robot base frame, i.e. it is the camera's pose
in the base frame. The schema is documented in `calibration/README.md` at the repository root.
"""
