"""The seed's own change detection and data generator, run as an oracle for BuildTrace's tests.

The functions below are copied verbatim from /work/shared/seed/buildtrace-implementation-guide.md
(sections 2.2 and 2.7); only the pydantic models are replaced by plain classes, because pydantic
is not installed and the tests must run on the standard library alone.

Usage:
  python3 seed_oracle.py --seed S --pairs N --objects K
      one JSON line per generated pair: {drawing_id, version_a, version_b, added, removed, moved,
      summary} (version_a / version_b are the JSON strings the seed's generator returns).
  python3 seed_oracle.py --detect
      reads JSON lines {"version_a": [...], "version_b": [...]} (hand-made pairs) and prints
      {added, removed, moved, summary}, or {"error": "..."} where the seed's parser refuses one.
  python3 seed_oracle.py --format
      reads lines of 16 hex digits (the IEEE-754 bits of a double, so -0.0, inf and nan travel
      exactly) and prints {"repr": repr(x), "fixed1": f"{x:.1f}"}.
"""
import argparse
import json
import random
import struct
import sys
from typing import List, Dict


# --- api/models/drawing.py, with plain classes in place of pydantic.BaseModel ---

class DrawingObject:
    def __init__(self, id: str, type: str, x: float, y: float, width: float, height: float):
        self.id = id
        self.type = type
        self.x = x
        self.y = y
        self.width = width
        self.height = height


class DrawingVersion:
    def __init__(self, objects: List[DrawingObject]):
        self.objects = objects


class ChangeResult:
    def __init__(self, added: List[str], removed: List[str], moved: List[str], summary: str):
        self.added = added
        self.removed = removed
        self.moved = moved
        self.summary = summary


# --- workers/processor.py (verbatim) ---

def parse_drawing_json(json_data: List[Dict]) -> DrawingVersion:
    """Parse JSON data into DrawingVersion object."""
    objects = []
    for obj in json_data:
        try:
            drawing_obj = DrawingObject(
                id=obj["id"],
                type=obj["type"],
                x=float(obj["x"]),
                y=float(obj["y"]),
                width=float(obj["width"]),
                height=float(obj["height"])
            )
            objects.append(drawing_obj)
        except (KeyError, ValueError, TypeError) as e:
            raise ValueError(f"Invalid drawing object: {obj}, Error: {e}")
    
    return DrawingVersion(objects=objects)

def detect_changes(version_a: DrawingVersion, version_b: DrawingVersion) -> ChangeResult:
    """
    Compare two drawing versions and detect changes.
    
    Args:
        version_a: Previous version
        version_b: Current version
    
    Returns:
        ChangeResult with detected changes
    """
    # Create dictionaries for quick lookup
    objects_a = {obj.id: obj for obj in version_a.objects}
    objects_b = {obj.id: obj for obj in version_b.objects}
    
    added = []
    removed = []
    moved = []
    
    # Find added objects (in B but not in A)
    for obj_id, obj in objects_b.items():
        if obj_id not in objects_a:
            added.append(f"{obj_id} ({obj.type} at {obj.x},{obj.y})")
    
    # Find removed objects (in A but not in B)
    for obj_id, obj in objects_a.items():
        if obj_id not in objects_b:
            removed.append(f"{obj_id} ({obj.type})")
    
    # Find moved objects (same ID but different position)
    for obj_id in objects_a:
        if obj_id in objects_b:
            obj_a = objects_a[obj_id]
            obj_b = objects_b[obj_id]
            
            # Check if position changed (using a threshold for floating point comparison)
            threshold = 0.1
            if (abs(obj_a.x - obj_b.x) > threshold or 
                abs(obj_a.y - obj_b.y) > threshold):
                dx = obj_b.x - obj_a.x
                dy = obj_b.y - obj_a.y
                
                # Determine direction
                if abs(dx) > abs(dy):
                    direction = "east" if dx > 0 else "west"
                    distance = abs(dx)
                else:
                    direction = "north" if dy > 0 else "south"
                    distance = abs(dy)
                
                moved.append(f"{obj_id} moved {distance:.1f} units {direction}")
    
    # Generate natural language summary
    summary = generate_summary(added, removed, moved)
    
    return ChangeResult(
        added=added,
        removed=removed,
        moved=moved,
        summary=summary
    )

def generate_summary(added: List[str], removed: List[str], moved: List[str]) -> str:
    """Generate natural language summary of changes."""
    parts = []
    
    if moved:
        parts.append(f"{len(moved)} object(s) moved: {', '.join(moved[:3])}")
        if len(moved) > 3:
            parts.append(f"and {len(moved) - 3} more")
    
    if added:
        parts.append(f"{len(added)} object(s) added: {', '.join(added[:3])}")
        if len(added) > 3:
            parts.append(f"and {len(added) - 3} more")
    
    if removed:
        parts.append(f"{len(removed)} object(s) removed: {', '.join(removed[:3])}")
        if len(removed) > 3:
            parts.append(f"and {len(removed) - 3} more")
    
    if not parts:
        return "No changes detected."
    
    return ". ".join(parts) + "."


# --- simulators/data_generator.py (verbatim) ---

def generate_drawing_object(id_prefix: str, index: int, base_x: float = 0, base_y: float = 0) -> Dict:
    """Generate a single drawing object."""
    types = ["wall", "door", "window", "column", "beam"]
    
    return {
        "id": f"{id_prefix}{index}",
        "type": random.choice(types),
        "x": base_x + random.uniform(0, 100),
        "y": base_y + random.uniform(0, 100),
        "width": random.uniform(1, 10),
        "height": random.uniform(1, 10)
    }

def generate_drawing_version(num_objects: int = 10, prefix: str = "A") -> List[Dict]:
    """Generate a complete drawing version."""
    return [generate_drawing_object(prefix, i) for i in range(num_objects)]

def generate_drawing_pair(
    drawing_id: str,
    num_objects_base: int = 10,
    change_probability: float = 0.3
) -> tuple:
    """
    Generate a pair of drawing versions with changes.
    
    Args:
        drawing_id: Unique identifier for the drawing pair
        num_objects_base: Base number of objects
        change_probability: Probability of each object being changed
    
    Returns:
        Tuple of (version_a, version_b) as JSON strings
    """
    version_a = generate_drawing_version(num_objects_base, "A")
    version_b = []
    
    # Copy objects with potential changes
    for obj in version_a:
        if random.random() < change_probability:
            # Change: move the object
            new_obj = obj.copy()
            new_obj["x"] += random.uniform(-5, 5)
            new_obj["y"] += random.uniform(-5, 5)
            version_b.append(new_obj)
        else:
            # No change
            version_b.append(obj.copy())
    
    # Add new objects (additions)
    num_additions = random.randint(0, 3)
    for i in range(num_additions):
        if random.random() < 0.5:
            version_b.append(generate_drawing_object("B", len(version_b)))
    
    # Remove some objects (deletions)
    if random.random() < change_probability and len(version_b) > 2:
        num_removals = random.randint(0, min(2, len(version_b) - 1))
        for _ in range(num_removals):
            version_b.pop(random.randint(0, len(version_b) - 1))
    
    return json.dumps(version_a, indent=2), json.dumps(version_b, indent=2)


# --- the oracle's command line (ours) ---

def run(seed: int, pairs: int, objects: int, out) -> None:
    random.seed(seed)
    for i in range(pairs):
        drawing_id = f"drawing_{i:04d}"
        version_a, version_b = generate_drawing_pair(drawing_id, num_objects_base=objects)
        # As the seed's worker does: json.loads, then parse_drawing_json, then detect_changes.
        changes = detect_changes(
            parse_drawing_json(json.loads(version_a)),
            parse_drawing_json(json.loads(version_b)),
        )
        out.write(json.dumps({
            "drawing_id": drawing_id,
            "version_a": version_a,
            "version_b": version_b,
            "added": changes.added,
            "removed": changes.removed,
            "moved": changes.moved,
            "summary": changes.summary,
        }) + "\n")


def detect(lines, out) -> None:
    for line in lines:
        if not line.strip():
            continue
        pair = json.loads(line)
        try:
            changes = detect_changes(
                parse_drawing_json(pair["version_a"]),
                parse_drawing_json(pair["version_b"]),
            )
        except ValueError as e:
            out.write(json.dumps({"error": str(e)}) + "\n")
            continue
        out.write(json.dumps({
            "added": changes.added,
            "removed": changes.removed,
            "moved": changes.moved,
            "summary": changes.summary,
        }) + "\n")


def fmt(lines, out) -> None:
    for line in lines:
        line = line.strip()
        if not line:
            continue
        (x,) = struct.unpack(">d", bytes.fromhex(line))
        out.write(json.dumps({"repr": repr(x), "fixed1": f"{x:.1f}"}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the seed's generator and change detection.")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--pairs", type=int)
    parser.add_argument("--objects", type=int)
    parser.add_argument("--detect", action="store_true")
    parser.add_argument("--format", action="store_true")
    args = parser.parse_args()
    if args.detect:
        detect(sys.stdin, sys.stdout)
    elif args.format:
        fmt(sys.stdin, sys.stdout)
    elif args.seed is not None and args.pairs is not None and args.objects is not None:
        run(args.seed, args.pairs, args.objects, sys.stdout)
    else:
        parser.error("give --seed, --pairs and --objects, or --detect, or --format")


if __name__ == "__main__":
    main()
