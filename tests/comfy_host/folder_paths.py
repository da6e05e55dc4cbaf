"""Stand-in for ComfyUI's ``folder_paths`` (0.8.0), for the node tests.

Behaviour follows ComfyUI's source: the same folder table and extensions, ``map_legacy``,
``add_model_folder_path`` (append, or move to the front with ``is_default``), copies from
``get_folder_paths``, the recursive, extension-filtered and sorted ``get_filename_list``,
``get_full_path``'s normalisation of the name, and ``get_save_image_path``'s numbering and its
refusal to write outside the output folder. ComfyUI roots everything at its own folder (or
``--base-directory``); :func:`set_base_path` is the stand-in's way of doing the same.
"""

from __future__ import annotations

import os
import time

supported_pt_extensions = {".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"}

base_path = models_dir = output_directory = temp_directory = input_directory = ""
folder_names_and_paths: dict[str, tuple[list[str], set[str]]] = {}


def set_base_path(path: str) -> None:
    """Root every folder at ``path``, as ComfyUI's ``--base-directory`` does."""
    global base_path, models_dir, output_directory, temp_directory, input_directory
    base_path = os.path.abspath(path)
    models_dir = os.path.join(base_path, "models")
    output_directory = os.path.join(base_path, "output")
    temp_directory = os.path.join(base_path, "temp")
    input_directory = os.path.join(base_path, "input")
    folder_names_and_paths.clear()
    folder_names_and_paths["checkpoints"] = ([os.path.join(models_dir, "checkpoints")], supported_pt_extensions)
    folder_names_and_paths["configs"] = ([os.path.join(models_dir, "configs")], [".yaml"])
    folder_names_and_paths["loras"] = ([os.path.join(models_dir, "loras")], supported_pt_extensions)
    folder_names_and_paths["vae"] = ([os.path.join(models_dir, "vae")], supported_pt_extensions)
    folder_names_and_paths["diffusers"] = ([os.path.join(models_dir, "diffusers")], ["folder"])
    folder_names_and_paths["custom_nodes"] = ([os.path.join(base_path, "custom_nodes")], set())
    os.makedirs(input_directory, exist_ok=True)


def map_legacy(folder_name: str) -> str:
    return {"unet": "diffusion_models", "clip": "text_encoders"}.get(folder_name, folder_name)


def get_output_directory() -> str:
    return output_directory


def get_temp_directory() -> str:
    return temp_directory


def get_input_directory() -> str:
    return input_directory


def add_model_folder_path(folder_name: str, full_folder_path: str, is_default: bool = False) -> None:
    folder_name = map_legacy(folder_name)
    if folder_name in folder_names_and_paths:
        paths, _exts = folder_names_and_paths[folder_name]
        if full_folder_path in paths:
            if is_default and paths[0] != full_folder_path:
                paths.remove(full_folder_path)
                paths.insert(0, full_folder_path)
        elif is_default:
            paths.insert(0, full_folder_path)
        else:
            paths.append(full_folder_path)
    else:
        folder_names_and_paths[folder_name] = ([full_folder_path], set())


def get_folder_paths(folder_name: str) -> list[str]:
    return folder_names_and_paths[map_legacy(folder_name)][0][:]


def recursive_search(directory: str, excluded_dir_names=None) -> tuple[list[str], dict[str, float]]:
    if not os.path.isdir(directory):
        return [], {}
    excluded = excluded_dir_names or []
    result, dirs = [], {directory: os.path.getmtime(directory)}
    for dirpath, subdirs, filenames in os.walk(directory, followlinks=True, topdown=True):
        subdirs[:] = [d for d in subdirs if d not in excluded]
        result += [os.path.relpath(os.path.join(dirpath, f), directory) for f in filenames]
        for d in subdirs:
            dirs[os.path.join(dirpath, d)] = os.path.getmtime(os.path.join(dirpath, d))
    return result, dirs


def filter_files_extensions(files, extensions) -> list[str]:
    return sorted(f for f in files if os.path.splitext(f)[-1].lower() in extensions or len(extensions) == 0)


def get_filename_list(folder_name: str) -> list[str]:
    # ComfyUI caches this list until a folder's mtime changes; listing afresh is equivalent.
    paths, extensions = folder_names_and_paths[map_legacy(folder_name)]
    found = set()
    for folder in paths:
        files, _ = recursive_search(folder, excluded_dir_names=[".git"])
        found.update(filter_files_extensions(files, extensions))
    return sorted(found)


def get_full_path(folder_name: str, filename: str) -> str | None:
    folder_name = map_legacy(folder_name)
    if folder_name not in folder_names_and_paths:
        return None
    filename = os.path.relpath(os.path.join("/", filename), "/")
    for folder in folder_names_and_paths[folder_name][0]:
        full_path = os.path.join(folder, filename)
        if os.path.isfile(full_path):
            return full_path
    return None


def get_full_path_or_raise(folder_name: str, filename: str) -> str:
    full_path = get_full_path(folder_name, filename)
    if full_path is None:
        raise FileNotFoundError(f"Model in folder '{folder_name}' with filename '{filename}' not found.")
    return full_path


def get_save_image_path(filename_prefix: str, output_dir: str, image_width=0, image_height=0):
    def map_filename(filename: str) -> tuple[int, str]:
        prefix_len = len(os.path.basename(filename_prefix))
        prefix = filename[:prefix_len + 1]
        try:
            digits = int(filename[prefix_len + 1:].split("_")[0])
        except ValueError:
            digits = 0
        return digits, prefix

    if "%" in filename_prefix:
        now = time.localtime()
        for key, value in {"%width%": image_width, "%height%": image_height, "%year%": now.tm_year,
                           "%month%": f"{now.tm_mon:02}", "%day%": f"{now.tm_mday:02}"}.items():
            filename_prefix = filename_prefix.replace(key, str(value))
    subfolder = os.path.dirname(os.path.normpath(filename_prefix))
    filename = os.path.basename(os.path.normpath(filename_prefix))
    full_output_folder = os.path.join(output_dir, subfolder)
    if os.path.commonpath((output_dir, os.path.abspath(full_output_folder))) != output_dir:
        raise Exception("**** ERROR: Saving image outside the output folder is not allowed.")
    try:
        counter = max(
            d for d, p in map(map_filename, os.listdir(full_output_folder))
            if os.path.normcase(p[:-1]) == os.path.normcase(filename) and p[-1] == "_"
        ) + 1
    except ValueError:
        counter = 1
    except FileNotFoundError:
        os.makedirs(full_output_folder, exist_ok=True)
        counter = 1
    return full_output_folder, filename, counter, subfolder, filename_prefix
